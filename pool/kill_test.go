package pool_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/pool"
)

var (
	_ = pool.RegisterFunc(useCell)
	_ = pool.Register(hang)
	_ = pool.Register(hangOnce)
	_ = pool.Register(poison)
	_ = pool.Register(spin)
)

// cell is the test's shared memory, given to each worker by the initializer useCell:
// word 0: the pid of the worker running a hang task, word 1: whether hangOnce has hung.
var cell *testutil.Cell

func useCell(c *testutil.Cell) { cell = c }

// hang announces its worker's pid and never returns: the test kills the worker.
func hang(x int) (int, error) {
	cell.Set(0, uint32(os.Getpid()))
	select {}
}

// hangOnce hangs the first time it runs (for a given cell) and returns x*x afterwards.
func hangOnce(x int) (int, error) {
	if atomic.CompareAndSwapUint32(cell.W32(1), 0, 1) {
		return hang(x)
	}
	return x * x, nil
}

func poison(x int) (int, error) {
	os.Exit(7)
	return x, nil
}

// spin is a tiny task that takes long enough for a 10,000-item Map to be killed in its middle.
func spin(x int) (int, error) {
	for t := time.Now(); time.Since(t) < 20*time.Microsecond; {
	}
	return x * x, nil
}

// never is how long a test waits for what must happen: the call must never hang, and on a
// loaded machine a process start can take long, but not this long.
const never = 30 * time.Second

// killHung waits for a hang task to announce its worker, kills it, and returns its pid.
func killHung(t *testing.T, c *testutil.Cell) int {
	t.Helper()
	pid, err := killWhenHung(c)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// killWhenHung is killHung for a goroutine other than the test's.
func killWhenHung(c *testutil.Cell) (int, error) {
	if !testutil.Eventually(never, func() bool { return c.Get(0) != 0 }) {
		return 0, errors.New("no worker ran the hanging task")
	}
	pid := int(c.Get(0))
	c.Set(0, 0)
	return pid, syscall.Kill(pid, syscall.SIGKILL)
}

// checkDied checks that err is the death, by SIGKILL, of worker pid while it ran task index.
func checkDied(t *testing.T, err error, pid, index int) {
	t.Helper()
	var wd *pool.WorkerDiedError
	if !errors.Is(err, pool.ErrWorkerDied) || !errors.As(err, &wd) {
		t.Fatalf("err = %v, want ErrWorkerDied", err)
	}
	if wd.Pid != pid || wd.ExitCode != -9 || wd.Index != index {
		t.Fatalf("%v: want pid %d killed by signal 9 in task %d", err, pid, index)
	}
	if msg := err.Error(); !strings.Contains(msg, "signal 9") || !strings.Contains(msg, "pid "+strconv.Itoa(pid)) {
		t.Fatalf("message %q does not name the pid and the signal", msg)
	}
}

// TestKillWorker50 kills the worker running a task 50 times, while another call runs beside: each
// killed task fails with ErrWorkerDied naming the worker, the pool replaces the worker, the other
// call completes, and the pool keeps serving.
func TestKillWorker50(t *testing.T) {
	c := testutil.NewCell(t, 64)
	p := newPool(t, &pool.Options{Workers: 2, Initializer: useCell, InitArgs: []any{c}})
	beside, err := pool.MapAsync(p, sleepMs, slices.Repeat([]int{1}, 200), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for i := range 50 {
		ar, err := pool.ApplyAsync(p, hang, i)
		if err != nil {
			t.Fatal(err)
		}
		pid := killHung(t, c)
		t0 := time.Now()
		_, err = ar.Get(never)
		lat = append(lat, time.Since(t0))
		if errors.Is(err, pool.ErrTimeout) {
			t.Fatalf("kill %d: the call hung", i)
		}
		checkDied(t, err, pid, 0)
		if v, err := pool.Apply(p, square, i); err != nil || v != i*i {
			t.Fatalf("kill %d: the pool no longer serves: %d, %v", i, v, err)
		}
	}
	got, err := beside.Get(never)
	if err != nil || !slices.Equal(got, slices.Repeat([]int{1}, 200)) {
		t.Fatalf("the call beside the kills: %v", err)
	}
	if !testutil.Eventually(never, func() bool { return p.Progress().Workers == 52 }) {
		t.Fatalf("%d workers started, want 2 + 50 replacements", p.Progress().Workers)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("from SIGKILL to the task's error: median %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	closeJoin(t, p)
}

// TestKillWorkerRetried: with Retries, the task of a killed worker runs again and succeeds.
func TestKillWorkerRetried(t *testing.T) {
	c := testutil.NewCell(t, 64)
	p := newPool(t, &pool.Options{Workers: 2, Retries: 1, Initializer: useCell, InitArgs: []any{c}})
	for i := range 10 {
		c.Set(1, 0)
		ar, err := pool.ApplyAsync(p, hangOnce, i)
		if err != nil {
			t.Fatal(err)
		}
		killHung(t, c)
		if v, err := ar.Get(never); err != nil || v != i*i {
			t.Fatalf("kill %d: %d, %v; want the retried result", i, v, err)
		}
	}
	if r := p.Progress().Retried; r != 10 {
		t.Fatalf("%d retries, want 10", r)
	}
	closeJoin(t, p)
}

// TestMapWithTrap: a 10,000-item Map (and Imap) on 4 workers, one of which is killed while it
// runs item trap: every other item's result arrives, and exactly that item fails (or, with
// Retries, every result arrives).
func TestMapWithTrap(t *testing.T) {
	const n, trap = 10_000, 6_789
	for _, retries := range []int{0, 1} {
		for _, streaming := range []bool{false, true} {
			p, done := trapPool(t, 4, retries)
			got := make([]int, 0, n)
			errs := map[int]error{}
			if streaming {
				it, err := pool.Imap(p, mapTrap, slices.Values(seq(n)), pool.LenHint(n))
				if err != nil {
					t.Fatal(err)
				}
				for v, err := range it {
					if err != nil {
						errs[len(got)] = err
					}
					got = append(got, v)
				}
			} else {
				var err error
				got, err = pool.Map(p, mapTrap, seq(n))
				var ie *pool.ItemsError
				if errors.As(err, &ie) {
					errs = ie.Errs
				} else if err != nil {
					t.Fatal(err)
				}
			}
			pid := <-done
			if len(got) != n {
				t.Fatalf("%d results, want %d", len(got), n)
			}
			for i, v := range got {
				if i == trap && retries == 0 {
					checkDied(t, errs[i], pid, trap)
				} else if errs[i] != nil || v != i*i {
					t.Fatalf("retries %d, streaming %v, item %d: %d, %v", retries, streaming, i, v, errs[i])
				}
			}
			if want := 1 - retries; len(errs) != want {
				t.Fatalf("retries %d: %d errors, want %d", retries, len(errs), want)
			}
			closeJoin(t, p)
		}
	}
}

var _ = pool.Register(mapTrap)

// mapTrap hangs (once) at item 6789 and squares the rest.
func mapTrap(x int) (int, error) {
	if x == 6789 {
		return hangOnce(x)
	}
	return x * x, nil
}

// TestMapKilledAnywhere kills one of 4 workers at whatever point of a 20,000-item Map it is, up
// to 8 times, each time after 1,500 more items are done: each kill loses at most the item its
// worker was running, and every other result arrives. With Retries, all do.
func TestMapKilledAnywhere(t *testing.T) {
	for _, retries := range []int{0, 1} {
		p := newPool(t, &pool.Options{Workers: 4, Retries: retries})
		const n, kills, every = 20_000, 8, 1_500
		ar, err := pool.MapAsync(p, spin, seq(n), pool.ChunkSize(100))
		if err != nil {
			t.Fatal(err)
		}
		killed := map[int]bool{}
		for k := 1; k <= kills; k++ {
			if !testutil.Eventually(never, func() bool { return ar.Ready() || p.Progress().Done >= int64(k*every) }) {
				t.Fatal("the Map made no progress")
			}
			// Children lists zombies too: a worker killed before, not reaped yet, which may be
			// reaped before the kill reaches it (ESRCH). Only the living are victims.
			kids := slices.DeleteFunc(testutil.Children(), func(pid int) bool { return killed[pid] || !testutil.Alive(pid) })
			if ar.Ready() || len(kids) == 0 {
				break
			}
			victim := kids[k%len(kids)]
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed[victim] = true
		}
		got, err := ar.Get(never)
		var ie *pool.ItemsError
		if err != nil && (!errors.As(err, &ie) || retries > 0) {
			t.Fatalf("retries %d: %v", retries, err)
		}
		lost := 0
		if ie != nil {
			for i, e := range ie.Errs {
				var wd *pool.WorkerDiedError
				if !errors.As(e, &wd) || !killed[wd.Pid] || wd.ExitCode != -9 || wd.Index != i {
					t.Fatalf("item %d: %v; want a death by SIGKILL of one of %v", i, e, killed)
				}
				lost++
			}
		}
		if lost > len(killed) {
			t.Fatalf("%d items lost to %d kills", lost, len(killed))
		}
		for i, v := range got {
			if (ie == nil || ie.Errs[i] == nil) && v != i*i {
				t.Fatalf("retries %d, item %d: %d", retries, i, v)
			}
		}
		t.Logf("retries %d: %d kills, %d items lost, %d retried", retries, len(killed), lost, p.Progress().Retried)
		closeJoin(t, p)
	}
}

// TestPoisonTask: a task that kills every worker it runs in ends with ErrWorkerDied after
// Retries+1 attempts, costing Retries+1 worker processes, and the pool goes on.
func TestPoisonTask(t *testing.T) {
	const retries = 2
	p := newPool(t, &pool.Options{Workers: 2, Retries: retries})
	_, err := pool.Apply(p, poison, 1)
	var wd *pool.WorkerDiedError
	if !errors.As(err, &wd) || wd.ExitCode != 7 || wd.Attempts != retries+1 || !strings.Contains(err.Error(), "exited with code 7") {
		t.Fatalf("poison: %v", err)
	}
	if v, err := pool.Apply(p, square, 5); err != nil || v != 25 {
		t.Fatalf("after the poison: %d, %v", v, err)
	}
	want := int64(2 + retries + 1)
	if !testutil.Eventually(never, func() bool { return p.Progress().Workers == want }) {
		t.Fatalf("%d workers started, want %d", p.Progress().Workers, want)
	}
	if _, err := pool.Map(p, square, seq(100)); err != nil {
		t.Fatal(err)
	}
	if g := p.Progress(); g.Workers != want || g.Retried != retries {
		t.Fatalf("progress %+v: want %d workers and %d retries", g, want, retries)
	}
	closeJoin(t, p)
}

var _ = pool.RegisterFunc(failInit)

func failInit() error { return errors.New("no database") }

// TestInitializerFails: New reports a worker whose initializer failed, with its stderr.
func TestInitializerFails(t *testing.T) {
	_, err := pool.New(&pool.Options{Workers: 2, Initializer: failInit})
	if !errors.Is(err, pool.ErrBroken) || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("New with a failing initializer: %v", err)
	}
}

var _ = pool.Register(oddTrap)

// oddTrap fails at odd items, hangs (once) at item 6790 and squares the rest.
func oddTrap(x int) (int, error) {
	switch {
	case x == 6790:
		return hangOnce(x)
	case x%2 == 1:
		return 0, errors.New("odd")
	}
	return x * x, nil
}

// trapPool starts a pool of workers for hangOnce and a goroutine that kills the worker running it
// and then sends its pid.
func trapPool(t *testing.T, workers, retries int) (*pool.Pool, <-chan int) {
	c := testutil.NewCell(t, 64)
	p := newPool(t, &pool.Options{Workers: workers, Retries: retries, Initializer: useCell, InitArgs: []any{c}})
	done := make(chan int, 1)
	go func() {
		pid, err := killWhenHung(c)
		if err != nil {
			t.Error(err)
		}
		done <- pid
	}()
	return p, done
}

// TestBulkChunkDeath kills a worker in the middle of a bulk chunk (raw int items, 5,000 to a
// chunk, the trap in the second): the items it completed before are delivered from its block, the
// item it was running fails (or, with Retries, runs again), the rest of the chunk runs on the
// other worker, and the items that failed before the death fail once, with their own error.
func TestBulkChunkDeath(t *testing.T) {
	const n, trap = 10_000, 6_790
	for _, retries := range []int{0, 1} {
		for _, odd := range []bool{false, true} {
			fn, hung := mapTrap, 6789
			if odd {
				fn, hung = oddTrap, trap
			}
			p, done := trapPool(t, 2, retries)
			got, err := pool.Map(p, fn, seq(n), pool.ChunkSize(5000))
			pid := <-done
			errs := map[int]error{}
			var ie *pool.ItemsError
			if errors.As(err, &ie) {
				errs = ie.Errs
			} else if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i, v := range got {
				switch {
				case i == hung && retries == 0:
					checkDied(t, errs[i], pid, hung)
					want++
				case odd && i%2 == 1:
					var te *pool.TaskError
					if !errors.As(errs[i], &te) || te.Message != "odd" || errors.Is(errs[i], pool.ErrWorkerDied) {
						t.Fatalf("item %d: %v, want its own error", i, errs[i])
					}
					want++
				case errs[i] != nil || v != i*i:
					t.Fatalf("retries %d, odd %v, item %d: %d, %v", retries, odd, i, v, errs[i])
				}
			}
			if len(errs) != want {
				t.Fatalf("%d errors, want %d", len(errs), want)
			}
			if g := p.Progress(); g.Done+g.Failed != n || g.Failed != int64(want) {
				t.Fatalf("progress %+v: want %d items ended, %d failed", g, n, want)
			}
			if !testutil.Eventually(never, func() bool { return p.Progress().Workers == 3 }) {
				t.Fatalf("%d workers started, want 3 (the killed one replaced once)", p.Progress().Workers)
			}
			closeJoin(t, p)
		}
	}
}

var _ = pool.Register(gateAt1000)

// gateAt1000 squares, but at item 1000 announces its worker in cell word 0 and waits for word 2.
func gateAt1000(x int) (int, error) {
	if x == 1000 {
		cell.Set(0, uint32(os.Getpid()))
		for cell.Get(2) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return x * x, nil
}

// TestProgressInBulkChunk: Progress counts the items a worker has completed in the bulk chunk it
// is running, from its done word in shared memory, before any message about the chunk.
func TestProgressInBulkChunk(t *testing.T) {
	c := testutil.NewCell(t, 64)
	p := newPool(t, &pool.Options{Workers: 1, Initializer: useCell, InitArgs: []any{c}})
	const n = 2000
	ar, err := pool.MapAsync(p, gateAt1000, seq(n), pool.ChunkSize(n))
	if err != nil {
		t.Fatal(err)
	}
	if !testutil.Eventually(never, func() bool { return c.Get(0) != 0 }) {
		t.Fatal("item 1000 did not start")
	}
	if g := p.Progress(); g.Total != n || g.Done != 1000 || g.Failed != 0 || g.InFlight() != 1000 {
		t.Fatalf("progress %+v in the middle of the chunk: want 1000 done, 1000 in flight", g)
	}
	c.Set(2, 1)
	if _, err := ar.Get(pool.Forever); err != nil {
		t.Fatal(err)
	}
	if g := p.Progress(); g.Done != n || g.InFlight() != 0 {
		t.Fatalf("progress %+v at the end: want %d done", g, n)
	}
	closeJoin(t, p)
}

// TestApplyReadersThroughKills: Apply callers read their results from the workers' rings
// themselves (Pool.watch), taking turns with the goroutines serving the workers. Four callers
// send tiny tasks back to back while workers are SIGKILLed one after another at random moments:
// every Apply returns, with its own result (the pool retries a task whose worker died), and
// the only deaths are the test's kills — a reader that broke the protocol would make the pool
// kill a worker of its own accord (counted by Broke, and costing one more replacement than
// there were kills, if it came before Close).
func TestApplyReadersThroughKills(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2, Retries: 10})
	const kills = 25
	stop := make(chan struct{})
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				x := g*1_000_000 + i
				if v, err := pool.Apply(p, square, x); err != nil || v != x*x {
					errs <- fmt.Errorf("caller %d, Apply(%d) = %d, %v", g, x, v, err)
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		pid, err := pool.Apply(p, pidOf, 0)
		if err != nil {
			t.Fatalf("kill %d: find a worker: %v", k, err)
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		if !testutil.Eventually(never, func() bool { return p.Progress().Workers >= int64(2+k+1) }) {
			t.Fatalf("kill %d: no replacement started", k)
		}
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(never):
		t.Fatal("an Apply hung")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	closeJoin(t, p)
	if b := pool.Broke(p); b != 0 {
		t.Errorf("the pool found a result ring broken %d times", b)
	}
	if w := p.Progress().Workers; w != 2+kills {
		t.Errorf("%d workers started for %d kills, want %d: a worker died of something else", w, kills, 2+kills)
	}
}
