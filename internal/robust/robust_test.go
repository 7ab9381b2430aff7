package robust_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var (
	errCorrupt  = errors.New("test: corrupt")
	errNotOwner = errors.New("test: not owner")
	errOverflow = errors.New("test: overflow")

	kindPlain     = &robust.Kind{What: "plain", Corrupt: errCorrupt, NotOwner: errNotOwner}
	kindRecursive = &robust.Kind{What: "recursive", Recursive: true, Corrupt: errCorrupt, NotOwner: errNotOwner, Overflow: errOverflow}
	kindOwnSelf   = &robust.Kind{What: "ownself", OwnSelf: true, Corrupt: errCorrupt}
)

// mutexIn returns a Mutex of kind k on word 0 of c, with a Local of its own.
func mutexIn(c *testutil.Cell, k *robust.Kind) robust.Mutex {
	return robust.New(c.W64(0), new(robust.Local), k)
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) uint32 {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return uint32(cmd.Process.Pid)
}

func TestLockUnlock(t *testing.T) {
	c := testutil.NewCell(t, 64)
	m := mutexIn(c, kindPlain)
	if !m.Fast() {
		t.Fatal("Fast on a free word failed")
	}
	if got, want := atomic.LoadUint64(c.W64(0)), uint64(robust.Self)|selfStart(40)<<robust.StartShift; got != want {
		t.Fatalf("held word %#x, want %#x", got, want)
	}
	if m.Owner() != robust.Self || m.Recovered() {
		t.Fatalf("Owner %d Recovered %v", m.Owner(), m.Recovered())
	}
	// Held by this process, not re-entrant: a try fails without error.
	if ok, rec, err := m.Try(true); ok || rec || err != nil {
		t.Fatalf("Try on a held word: %v %v %v", ok, rec, err)
	}
	dl, _ := deadline.New("test", nil, 5*time.Millisecond)
	if _, err := m.Lock(dl); err != deadline.ErrTimeout {
		t.Fatalf("Lock on a held word: %v, want ErrTimeout", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlock(); !errors.Is(err, errNotOwner) {
		t.Fatalf("second Unlock: %v, want errNotOwner", err)
	}
	if err := m.LockForever(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UnlockAll(); err != nil {
		t.Fatal(err)
	}
	if v := atomic.LoadUint64(c.W64(0)); v != 0 {
		t.Fatalf("released word %#x", v)
	}
}

func TestContextEnds(t *testing.T) {
	c := testutil.NewCell(t, 64)
	m := mutexIn(c, kindPlain)
	atomic.StoreUint64(c.W64(0), uint64(robust.Self)|selfStart(40)<<robust.StartShift) // held by another goroutine of ours
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Lock(deadline.Ctx(ctx)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want the context's error", err)
	}
	if atomic.LoadUint64(c.W64(0))&robust.Waiters == 0 {
		t.Fatal("a waiter that parked left no waiters bit")
	}
}

// The waiters bit makes the release wake a parked goroutine of another Local (as another
// process would be), and the one that took the word after a wait keeps the bit.
func TestWakeParked(t *testing.T) {
	c := testutil.NewCell(t, 64)
	a, b := mutexIn(c, kindPlain), mutexIn(c, kindPlain)
	if !a.Fast() {
		t.Fatal("Fast failed")
	}
	got := make(chan error, 1)
	go func() {
		_, err := b.Lock(deadline.D{})
		got <- err
	}()
	if !testutil.Eventually(5*time.Second, func() bool { return atomic.LoadUint64(c.W64(0))&robust.Waiters != 0 }) {
		t.Fatal("the waiter never set the waiters bit")
	}
	time.Sleep(5 * time.Millisecond) // let it park
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("the parked waiter was not woken")
	}
	if err := b.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestRecursive(t *testing.T) {
	c := testutil.NewCell(t, 64)
	m := mutexIn(c, kindRecursive)
	for range 3 {
		if err := m.LockForever(); err != nil {
			t.Fatal(err)
		}
	}
	if got := atomic.LoadUint64(c.W64(0)) >> robust.CountShift; got != 3 {
		t.Fatalf("count %d, want 3", got)
	}
	depth, err := m.UnlockAll()
	if err != nil || depth != 3 {
		t.Fatalf("UnlockAll: %d %v", depth, err)
	}
	if _, err := m.Relock(depth); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	if v := atomic.LoadUint64(c.W64(0)); v != 0 {
		t.Fatalf("released word %#x", v)
	}
	atomic.StoreUint64(c.W64(0), (1<<(64-robust.CountShift)-1)<<robust.CountShift|uint64(robust.Self)|selfStart(16)<<robust.StartShift)
	if ok, _, err := m.Try(false); ok || !errors.Is(err, errOverflow) {
		t.Fatalf("Try at the maximum count: %v %v, want errOverflow", ok, err)
	}
	atomic.StoreUint64(c.W64(0), 0)
}

// A word that names a dead process is taken over by the next taker, which reports it; the
// recovered mark lasts until the release, and the waiters bit survives the takeover.
func TestTakeOverDead(t *testing.T) {
	c := testutil.NewCell(t, 64)
	for _, k := range []*robust.Kind{kindPlain, kindRecursive, kindOwnSelf} {
		m := mutexIn(c, k)
		held := uint64(deadPid(t)) | robust.Waiters
		if k.Recursive {
			held |= 1 << robust.CountShift
		}
		atomic.StoreUint64(c.W64(0), held)
		if ok, rec, err := m.Try(false); ok || rec || err != nil {
			t.Fatalf("%s: Try without the liveness check took it: %v %v %v", k.What, ok, rec, err)
		}
		rec, err := m.Lock(deadline.Try())
		if err != nil || !rec || !m.Recovered() {
			t.Fatalf("%s: Lock: recovered %v, err %v, Recovered %v", k.What, rec, err, m.Recovered())
		}
		if v := atomic.LoadUint64(c.W64(0)); v&robust.Waiters == 0 || v&robust.PidMask != uint64(robust.Self) {
			t.Fatalf("%s: word after takeover %#x", k.What, v)
		}
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
		if v := atomic.LoadUint64(c.W64(0)); v != 0 || m.Recovered() {
			t.Fatalf("%s: word after release %#x", k.What, v)
		}
	}
}

// OwnSelf: a word naming this process is left over, and taken over at once; without it the
// caller waits (another goroutine of this process holds it).
func TestOwnSelf(t *testing.T) {
	c := testutil.NewCell(t, 64)
	m := mutexIn(c, kindOwnSelf)
	atomic.StoreUint64(c.W64(0), uint64(robust.Self))
	if ok, rec, err := m.Try(false); !ok || !rec || err != nil {
		t.Fatalf("Try on a leftover word: %v %v %v", ok, rec, err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	// Not held: its Unlock is a corrupt state for a kind without NotOwner.
	if err := m.Unlock(); !errors.Is(err, errCorrupt) {
		t.Fatalf("Unlock of a free word: %v, want errCorrupt", err)
	}
}

// Words no process writes are reported, by every operation, without panic or hang.
func TestCorruptWords(t *testing.T) {
	c := testutil.NewCell(t, 64)
	for _, tc := range []struct {
		v    uint64
		kind *robust.Kind
	}{
		{1 << 24, kindPlain},                                        // a start time and no owner
		{robust.Waiters, kindPlain},                                 // waiters with no owner
		{robust.Recovered, kindPlain},                               // recovered with no owner
		{1 << 32, kindPlain},                                        // a start time and no owner
		{1 << 40, kindRecursive},                                    // a count and no owner
		{uint64(robust.Self), kindRecursive},                        // held with count 0
		{uint64(robust.Self) | 5<<robust.StartShift, kindRecursive}, // held with count 0
		{^uint64(0) &^ robust.PidMask, kindRecursive},
	} {
		m := mutexIn(c, tc.kind)
		atomic.StoreUint64(c.W64(0), tc.v)
		if err := m.Check(tc.v); !errors.Is(err, errCorrupt) {
			t.Errorf("Check(%#x): %v", tc.v, err)
		}
		if ok, _, err := m.Try(true); ok || !errors.Is(err, errCorrupt) {
			t.Errorf("Try(%#x): %v %v", tc.v, ok, err)
		}
		if _, err := m.Lock(deadline.D{}); !errors.Is(err, errCorrupt) {
			t.Errorf("Lock(%#x): %v", tc.v, err)
		}
		if err := m.Unlock(); !errors.Is(err, errCorrupt) {
			t.Errorf("Unlock(%#x): %v", tc.v, err)
		}
		if _, err := m.UnlockAll(); !errors.Is(err, errCorrupt) {
			t.Errorf("UnlockAll(%#x): %v", tc.v, err)
		}
		if got := atomic.LoadUint64(c.W64(0)); got != tc.v {
			t.Errorf("word %#x changed to %#x", tc.v, got)
		}
	}
	atomic.StoreUint64(c.W64(0), 0)
}

// FuzzWord puts arbitrary states in the word and requires every operation, of every kind, to
// return (no panic, no hang: a held word times out within its bound) with a result or one of the
// Kind's errors, and the word to be free or consistent afterwards.
func FuzzWord(f *testing.F) {
	for _, v := range []uint64{0, 1, robust.Waiters, robust.Recovered, 1 << 24, 1 << 32, 1<<32 | 1,
		uint64(robust.Self), uint64(robust.Self) | 1<<32, uint64(robust.Self) | robust.Waiters | robust.Recovered,
		0xffffffff, 0x80000000 | 1, ^uint64(0)} {
		f.Add(v)
	}
	c := testutil.NewCell(f, 64)
	known := func(err error) bool {
		return err == nil || errors.Is(err, errCorrupt) || errors.Is(err, errNotOwner) ||
			errors.Is(err, errOverflow) || errors.Is(err, deadline.ErrTimeout)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		for _, k := range []*robust.Kind{kindPlain, kindRecursive, kindOwnSelf} {
			m := mutexIn(c, k)
			atomic.StoreUint64(c.W64(0), v)
			checkErr := m.Check(v)
			ok, _, err := m.Try(true)
			if !known(err) {
				t.Fatalf("%s %#x: Try: %v", k.What, v, err)
			}
			if checkErr != nil && (ok || err == nil) {
				t.Fatalf("%s %#x: Try on a word Check refuses: %v %v", k.What, v, ok, err)
			}
			dl, _ := deadline.New("fuzz", nil, time.Millisecond)
			_, err = m.Lock(dl)
			if !known(err) {
				t.Fatalf("%s %#x: Lock: %v", k.What, v, err)
			}
			for _, err := range []error{m.Unlock(), second(m.UnlockAll())} {
				if !known(err) {
					t.Fatalf("%s %#x: release: %v", k.What, v, err)
				}
			}
			if w := atomic.LoadUint64(c.W64(0)); checkErr == nil && m.Check(w) != nil {
				t.Fatalf("%s %#x: a valid word became %#x", k.What, v, w)
			}
		}
		atomic.StoreUint64(c.W64(0), 0)
	})
}

func second[T any](_ T, err error) error { return err }

func TestRegistry(t *testing.T) {
	var r robust.Registry[int, robust.Local]
	inits := 0
	a := r.Get(1, func(*robust.Local) { inits++ })
	if b := r.Get(1, func(*robust.Local) { inits++ }); a != b || inits != 1 {
		t.Fatalf("Get returned %p then %p after %d inits", a, b, inits)
	}
	var wg sync.WaitGroup
	got := make([]*robust.Local, 8)
	for i := range got {
		wg.Go(func() { got[i] = r.Get(2, nil) })
	}
	wg.Wait()
	for _, p := range got[1:] {
		if p != got[0] {
			t.Fatal("concurrent Gets of one key returned different states")
		}
	}
	r.Delete(1)
	if r.Get(1, nil) == a {
		t.Fatal("Delete kept the state")
	}
}

func TestBackoff(t *testing.T) {
	var b robust.Backoff
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 100, 100}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("slice %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

var _ = proc.Register(holdUntilKilled)

// holdUntilKilled takes the mutex in word 0 of c, sets word 2 (32-bit) and waits to be killed.
func holdUntilKilled(c *testutil.Cell) error {
	m := mutexIn(c, kindPlain)
	if err := m.LockForever(); err != nil {
		return err
	}
	c.Set(2, 1)
	time.Sleep(time.Hour) // the test SIGKILLs this process first
	return nil
}

// A holder SIGKILLed while another process waits: the waiter notices within a second, takes the
// mutex over with recovered == true, and releases it; the word is then free.
func TestKilledHolder(t *testing.T) {
	c := testutil.NewCell(t, 64)
	for round := range 3 {
		c.Set(2, 0)
		p := testutil.Start(t, holdUntilKilled, c)
		c.WaitFor(t, 2, 1)
		m := mutexIn(c, kindPlain)
		if m.Owner() != uint32(p.Pid()) {
			t.Fatalf("round %d: owner %d, want the child %d", round, m.Owner(), p.Pid())
		}
		type result struct {
			rec bool
			err error
		}
		got := make(chan result, 1)
		go func() {
			dl, _ := deadline.New("test", nil, 2*time.Second)
			rec, err := m.Lock(dl)
			got <- result{rec, err}
		}()
		time.Sleep(5 * time.Millisecond) // waiting before the kill: it must notice by itself
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		r := <-got
		if r.err != nil || !r.rec || !m.Recovered() {
			t.Fatalf("round %d: after the kill: recovered %v, err %v", round, r.rec, r.err)
		}
		t.Logf("round %d: takeover %v after the kill", round, time.Since(t0)) // logged: no timed assertions
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
		if v := atomic.LoadUint64(c.W64(0)); v != 0 {
			t.Fatalf("round %d: word %#x after the release", round, v)
		}
		if err := p.Join(proc.Forever); err != nil {
			t.Fatal(err)
		}
	}
}

// selfStart returns the low bits of this process's start time, as a word of that many bits
// records it.
func selfStart(bits uint) uint64 {
	st, _ := pids.StartTime(os.Getpid())
	return st & (1<<bits - 1)
}

// A pid reused by a live, unrelated process (a sleeping child) does not keep a dead owner alive:
// the word records the owner's start time, which the sleeper's does not match. The same word
// with the sleeper's real start time is a live owner, and is left alone.
func TestTakeOverReusedPid(t *testing.T) {
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := uint64(sleeper.Process.Pid)
	real, err := pids.StartTime(int(pid))
	if err != nil {
		t.Fatal(err)
	}
	c := testutil.NewCell(t, 64)
	for _, k := range []*robust.Kind{kindPlain, kindRecursive, kindOwnSelf} {
		bits := uint(40)
		var count uint64
		if k.Recursive {
			bits, count = 16, 1<<robust.CountShift
		}
		m := mutexIn(c, k)
		wrong := (real + 1) & (1<<bits - 1) // one tick later: another process
		atomic.StoreUint64(c.W64(0), pid|wrong<<robust.StartShift|count)
		if !m.OwnerDead() {
			t.Fatalf("%s: owner %d with a wrong start time reported alive", k.What, pid)
		}
		rec, err := m.Lock(deadline.Try())
		if err != nil || !rec {
			t.Fatalf("%s: Lock over the reused pid: recovered %v, %v", k.What, rec, err)
		}
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
		live := pid | (real&(1<<bits-1))<<robust.StartShift | count
		atomic.StoreUint64(c.W64(0), live)
		if m.OwnerDead() {
			t.Fatalf("%s: the live sleeper reported dead", k.What)
		}
		if ok, _, err := m.Try(true); ok || err != nil {
			t.Fatalf("%s: Try took the mutex of a live owner: %v %v", k.What, ok, err)
		}
		atomic.StoreUint64(c.W64(0), 0)
	}
	// This process's own pid with another start time: an earlier process that had the pid.
	m := mutexIn(c, kindPlain)
	atomic.StoreUint64(c.W64(0), uint64(robust.Self)|(selfStart(40)^1)<<robust.StartShift)
	if rec, err := m.Lock(deadline.Try()); err != nil || !rec {
		t.Fatalf("Lock over this pid's predecessor: recovered %v, %v", rec, err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}
