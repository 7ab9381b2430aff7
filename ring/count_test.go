package ring_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// countMax is the MaxMessages of the count tests' bounded modes.
const countMax = 4

// The modes whose message counts the tests below check: every combination of one or several
// producers and consumers, with and without MaxMessages, and a JoinableQueue.
var countModes = []struct {
	name     string
	opts     ring.Options
	joinable bool
}{
	{"mpmc", ring.Options{Size: 1024}, false},
	{"mpmc-max", ring.Options{Size: 1024, MaxMessages: countMax}, false},
	{"mp-sc", ring.Options{Size: 1024, SingleConsumer: true}, false},
	{"mp-sc-max", ring.Options{Size: 1024, SingleConsumer: true, MaxMessages: countMax}, false},
	{"sp-mc", ring.Options{Size: 1024, SingleProducer: true}, false},
	{"sp-mc-max", ring.Options{Size: 1024, SingleProducer: true, MaxMessages: countMax}, false},
	{"spsc", ring.Options{Size: 1024, SingleProducer: true, SingleConsumer: true}, false},
	{"spsc-max", ring.Options{Size: 1024, SingleProducer: true, SingleConsumer: true, MaxMessages: countMax}, false},
	{"joinable", ring.Options{Size: 1024}, true},
	{"joinable-max-sc", ring.Options{Size: 1024, SingleConsumer: true, MaxMessages: countMax}, true},
}

// newCountQueue makes a queue of the mode, freed when the test ends.
func newCountQueue(t *testing.T, opts ring.Options, joinable bool) *ring.Queue {
	t.Helper()
	if !joinable {
		return newQueue(t, &opts)
	}
	j, err := ring.NewJoinableQueue(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Free(); err != nil {
			t.Error(err)
		}
	})
	return j.Queue
}

// openAny opens the queue or joinable queue that ref names (a child's parameter of type
// *ring.Queue cannot receive a JoinableQueue).
func openAny(ref shm.Ref) (*ring.Queue, error) {
	if q, err := ring.OpenQueue(ref); err == nil {
		return q, nil
	}
	j, err := ring.OpenJoinableQueue(ref)
	if err != nil {
		return nil, err
	}
	return j.Queue, nil
}

// checkCount checks that q, drained, counts no message, and that its count moves exactly with
// what is put and taken: with MaxMessages, exactly that many messages fit.
func checkCount(t *testing.T, q *ring.Queue, maxMsgs int) {
	t.Helper()
	if n := q.Len(); n != 0 || !q.Empty() || q.Full() {
		t.Fatalf("drained queue: Len %d, Empty %v, Full %v", n, q.Empty(), q.Full())
	}
	n := 3
	if maxMsgs != 0 {
		n = maxMsgs
	}
	for i := 0; i < n; i++ {
		if err := q.PutTimeout(msg(i, 8), 0); err != nil {
			t.Fatalf("Put %d of %d into the drained queue: %v", i+1, n, err)
		}
		if got := q.Len(); got != i+1 {
			t.Fatalf("Len %d after %d Puts into the drained queue", got, i+1)
		}
	}
	if maxMsgs != 0 {
		if !q.Full() {
			t.Fatalf("not Full with MaxMessages (%d) messages", maxMsgs)
		}
		if err := q.PutTimeout(nil, 0); !errors.Is(err, ring.ErrTimeout) {
			t.Fatalf("Put beyond MaxMessages: %v", err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := q.GetTimeout(0); err != nil {
			t.Fatalf("Get %d of %d: %v", i+1, n, err)
		}
	}
	if got := q.Len(); got != 0 {
		t.Fatalf("Len %d after taking back what was put", got)
	}
}

// Issue 10, item 1: an aborted reservation is no message once the queue is drained, and it
// takes no room from MaxMessages (two aborts used to fill a queue of MaxMessages 2 for good).
func TestAbortLen(t *testing.T) {
	for _, m := range countModes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			if opts.MaxMessages != 0 {
				opts.MaxMessages = 2
			}
			q := newCountQueue(t, opts, m.joinable)
			for i := 0; i < 2; i++ {
				w, err := q.ReserveTimeout(10, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Abort(); err != nil {
					t.Fatal(err)
				}
			}
			if b, ok, err := q.TryGet(); ok || err != nil {
				t.Fatalf("TryGet after two aborts: %q %v %v", b, ok, err)
			}
			checkCount(t, q, opts.MaxMessages)
			// And between messages.
			if err := q.Put([]byte("a")); err != nil {
				t.Fatal(err)
			}
			w, err := q.ReserveTimeout(10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if b, err := q.GetTimeout(0); err != nil || string(b) != "a" {
				t.Fatalf("Get: %q %v", b, err)
			}
			if b, ok, err := q.TryGet(); ok || err != nil {
				t.Fatalf("TryGet after the message: %q %v %v", b, ok, err)
			}
			checkCount(t, q, opts.MaxMessages)
		})
	}
}

var (
	_ = proc.Register(putUntilHook)
	_ = proc.Register(getUntilHook)
	_ = proc.Register(reserveRefAndHang)
	_ = proc.Register(abortUntilHook)
)

// abortUntilHook reserves a message and aborts it, stopping at site (and killed there).
func abortUntilHook(ref shm.Ref, c *cell, site string) error {
	q, err := openAny(ref)
	if err != nil {
		return err
	}
	w, err := q.Reserve(10)
	if err != nil {
		return err
	}
	stopAt(c, site)
	if err := w.Abort(); err != nil {
		return err
	}
	return fmt.Errorf("Abort returned without passing %s", site)
}

// reserveRefAndHang is reserveAndHang on the queue or joinable queue ref names.
func reserveRefAndHang(ref shm.Ref, c *cell, n int) error {
	q, err := openAny(ref)
	if err != nil {
		return err
	}
	return reserveAndHang(q, c, n)
}

// hang blocks the calling goroutine until the process is killed. It sleeps rather than blocks
// on nothing, so that the Go runtime never finds every goroutine asleep and ends the process by
// itself (the test would then check a crash, not the kill it is about).
func hang() {
	for {
		time.Sleep(time.Hour)
	}
}

// stopAt makes this process, when it reaches site in a counted step, say so in word 0 of c and
// hang there until killed.
func stopAt(c *cell, site string) {
	ring.SetTestHook(func(s string) {
		if s == site {
			atomic.StoreUint64(c.W64(0), 1)
			hang()
		}
	})
}

// putUntilHook puts before messages, then puts until it stops at site (and is killed there).
func putUntilHook(ref shm.Ref, c *cell, site string, before int) error {
	q, err := openAny(ref)
	if err != nil {
		return err
	}
	for i := 0; i < before; i++ {
		if err := q.Put(msg(i, 20)); err != nil {
			return err
		}
	}
	stopAt(c, site)
	if err := q.Put(msg(before, 20)); err != nil {
		return err
	}
	return fmt.Errorf("Put returned without passing %s", site)
}

// getUntilHook takes before messages, then takes until it stops at site (and is killed there).
func getUntilHook(ref shm.Ref, c *cell, site string, before int) error {
	q, err := openAny(ref)
	if err != nil {
		return err
	}
	for i := 0; i < before; i++ {
		if _, err := q.Get(); err != nil {
			return err
		}
	}
	stopAt(c, site)
	if _, err := q.Get(); err != nil {
		return err
	}
	return fmt.Errorf("Get returned without passing %s", site)
}

// killWhenFlagged waits until child p raises word 0 of c, then SIGKILLs it; a child that ends
// before, or of anything but the kill, fails the test.
func killWhenFlagged(t *testing.T, p *proc.Process, c *cell) {
	t.Helper()
	if !testutil.Eventually(20*time.Second, func() bool { return atomic.LoadUint64(c.W64(0)) == 1 || !p.IsAlive() }) {
		t.Fatalf("%v never reached the point where it was to be killed", p)
	}
	if atomic.LoadUint64(c.W64(0)) != 1 {
		p.Join(ring.Forever)
		code, _ := p.ExitCode()
		t.Fatalf("%v ended by itself (exit code %d) before the point where it was to be killed", p, code)
	}
	killed(t, p)
}

// killed SIGKILLs child p and checks that the kill, nothing else, ended it.
func killed(t testing.TB, p *proc.Process) {
	t.Helper()
	if !p.IsAlive() {
		p.Join(ring.Forever)
		code, _ := p.ExitCode()
		t.Fatalf("%v ended by itself (exit code %d) before it was killed", p, code)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(ring.Forever); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.ExitCode(); code != -9 {
		t.Fatalf("%v ended with exit code %d, not by the SIGKILL sent to it", p, code)
	}
}

// Issue 10, item 2: a process killed at any instant of a counted step leaves the count exact.
// Each child stops at one named instant of the step (a hook compiled into the test binary) and
// is SIGKILLed there; the survivors finish the queue's work, and the drained queue must count
// nothing and accept exactly MaxMessages messages.
func TestKilledInCountedStep(t *testing.T) {
	reps := 3
	if testing.Short() {
		reps = 1
	}
	rng := rand.New(rand.NewPCG(10, 2))
	for _, m := range countModes {
		sp, sc := m.opts.SingleProducer, m.opts.SingleConsumer
		counted := !(sp && sc) || m.opts.MaxMessages != 0
		type site struct {
			name string
			kind int // what the killed child does
		}
		const (
			producing = iota
			consuming
			skipping // consuming, and meeting a dead producer's record
			walking  // producing, after a producer killed at put:published
		)
		var sites []site
		switch {
		case !sp:
			sites = append(sites, site{"put:published", producing}, site{"put:counted", producing},
				site{"walk:counted", walking}, site{"skip:abandoned", skipping}, site{"skip:counted", skipping})
		case counted:
			sites = append(sites, site{"put:published", producing}, site{"put:counted", producing},
				site{"walk:counted", walking})
		}
		switch {
		case !sc:
			sites = append(sites, site{"claim:claimed", consuming}, site{"claim:counted", consuming})
		case counted:
			sites = append(sites, site{"release:counted", consuming})
		}
		for _, s := range sites {
			t.Run(m.name+"/"+s.name, func(t *testing.T) {
				q := newCountQueue(t, m.opts, m.joinable)
				for rep := 0; rep < reps; rep++ {
					// Start each round at another place in the ring.
					for i, n := 0, rng.IntN(40); i < n; i++ {
						if err := q.Put(msg(i, rng.IntN(60))); err != nil {
							t.Fatal(err)
						}
						if _, err := q.Get(); err != nil {
							t.Fatal(err)
						}
					}
					if err := q.Put([]byte("first")); err != nil {
						t.Fatal(err)
					}
					before := rng.IntN(2)
					c := newCell(t, 64)
					switch s.kind {
					case producing:
						killWhenFlagged(t, testutil.Start(t, putUntilHook, q.Ref(), c, s.name, before), c)
					case walking:
						// The next producer finds the record published beyond tail, and is
						// killed while it walks past it.
						c0 := newCell(t, 64)
						killWhenFlagged(t, testutil.Start(t, putUntilHook, q.Ref(), c0, "put:published", before), c0)
						killWhenFlagged(t, testutil.Start(t, putUntilHook, q.Ref(), c, s.name, 0), c)
					case consuming:
						for i := 0; i < before+1; i++ {
							if err := q.Put(msg(i, 20)); err != nil {
								t.Fatal(err)
							}
						}
						killWhenFlagged(t, testutil.Start(t, getUntilHook, q.Ref(), c, s.name, 1+before), c)
					case skipping:
						// A producer dies holding a reservation; a consumer dies skipping it.
						rc := newCell(t, 64)
						p := testutil.Start(t, reserveRefAndHang, q.Ref(), rc, 10)
						if !testutil.Eventually(20*time.Second, func() bool { return atomic.LoadUint64(rc.W64(0)) == 1 || !p.IsAlive() }) {
							t.Fatal("child never reserved")
						}
						killed(t, p)
						killWhenFlagged(t, testutil.Start(t, getUntilHook, q.Ref(), c, s.name, 1), c)
					}
					// The survivors: put an end mark, take everything up to it, and count.
					if err := q.PutTimeout([]byte("end"), 10*time.Second); err != nil {
						t.Fatalf("round %d: Put after the kill: %v (Len %d)", rep, err, q.Len())
					}
					for {
						b, err := q.GetTimeout(10 * time.Second)
						if err != nil {
							t.Fatalf("round %d: Get after the kill: %v", rep, err)
						}
						if string(b) == "end" {
							break
						}
					}
					checkCount(t, q, m.opts.MaxMessages)
				}
			})
		}
	}
}

// A producer killed inside Abort never makes a JoinableQueue's Join return while a task is
// unfinished (it took the task back before it marked the record abandoned, and the consumer that
// then found the record reserved by a dead producer took it back again).
func TestJoinNotEarlyAfterAbortKilled(t *testing.T) {
	for _, sc := range []bool{false, true} {
		j, err := ring.NewJoinableQueue(&ring.Options{Size: 1024, SingleConsumer: sc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Free() })
		if err := j.Put([]byte("task")); err != nil {
			t.Fatal(err)
		}
		c := newCell(t, 64)
		killWhenFlagged(t, testutil.Start(t, abortUntilHook, j.Ref(), c, "abort:abandoned"), c)
		if b, err := j.GetTimeout(10 * time.Second); err != nil || string(b) != "task" {
			t.Fatalf("Get: %q %v", b, err)
		}
		// Long enough to find a producer dead (a tick) and pass its record.
		if b, err := j.GetTimeout(500 * time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
			t.Fatalf("Get after the aborted record: %q %v", b, err)
		}
		if err := j.JoinTimeout(0); !errors.Is(err, ring.ErrTimeout) {
			t.Fatalf("Join with the task taken and not done: %v (Unfinished %d)", err, j.Unfinished())
		}
	}
}
