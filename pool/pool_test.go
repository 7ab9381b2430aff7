package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Task functions, registered at package level so that the workers (this test binary, re-executed)
// have them too.
var (
	_ = pool.Register(square)
	_ = pool.Register(failOdd)
	_ = pool.Register(panicAt)
	_ = pool.Register(sleepMs)
	_ = pool.Register(describe)
	_ = pool.Register(whoAmI)
	_ = pool.RegisterFunc(add3)
	_ = pool.RegisterFunc(setPrefix)
	_ = pool.Register(prefixed)
)

func square(x int) (int, error) { return x * x, nil }

func failOdd(x int) (int, error) {
	if x%2 == 1 {
		return 0, fmt.Errorf("odd input %d", x)
	}
	return x, nil
}

func panicAt(x int) (int, error) {
	if x == 3 {
		panic(fmt.Sprintf("boom at %d", x))
	}
	return x, nil
}

func sleepMs(ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
}

type point struct {
	Name string
	X, Y int
}

func describe(p point) (string, error) { return fmt.Sprintf("%s(%d,%d)", p.Name, p.X, p.Y), nil }

func whoAmI(int) (int, error) { return os.Getpid(), nil }

func add3(a int, b float64, c string) (string, error) {
	return fmt.Sprintf("%s%g", c, float64(a)+b), nil
}

// prefix is per-worker state, set by the initializer setPrefix.
var prefix string

func setPrefix(p string) { prefix = p }

func prefixed(x int) (string, error) { return fmt.Sprintf("%s%d", prefix, x), nil }

// newPool starts a pool that the test's cleanup terminates if the test left it running.
func newPool(t *testing.T, opts *pool.Options) *pool.Pool {
	t.Helper()
	p, err := pool.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Terminate(); err != nil {
			t.Errorf("Terminate: %v", err)
		}
	})
	return p
}

func closeJoin(t *testing.T, p *pool.Pool) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func squares(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i * i
	}
	return out
}

func TestMapOrderAndChunking(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 3})
	for _, n := range []int{0, 1, 2, 3, 5, 12, 13, 1000} {
		for _, cs := range []int{0, 1, 2, 7, 5000} {
			var opts []pool.CallOption
			if cs > 0 {
				opts = append(opts, pool.ChunkSize(cs))
			}
			got, err := pool.Map(p, square, seq(n), opts...)
			if err != nil {
				t.Fatalf("n=%d chunk=%d: %v", n, cs, err)
			}
			if !slices.Equal(got, squares(n)) {
				t.Fatalf("n=%d chunk=%d: got %v", n, cs, got)
			}
		}
	}
	closeJoin(t, p)
}

func TestMapStructsAndStrings(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	got, err := pool.Map(p, describe, []point{{"a", 1, 2}, {"b", -3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a(1,2)", "b(-3,4)"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	closeJoin(t, p)
}

func TestTaskErrorsAndPanics(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	got, err := pool.Map(p, failOdd, seq(10), pool.ChunkSize(3))
	var ie *pool.ItemsError
	if !errors.As(err, &ie) || len(ie.Errs) != 5 || ie.Total != 10 {
		t.Fatalf("err = %v, want an ItemsError of 5 items", err)
	}
	if !errors.Is(err, pool.ErrTaskFailed) || errors.Is(err, pool.ErrWorkerDied) {
		t.Fatalf("err = %v, want ErrTaskFailed only", err)
	}
	for i := range 10 {
		if i%2 == 1 {
			var te *pool.TaskError
			if !errors.As(ie.Errs[i], &te) || te.Index != i || te.Message != fmt.Sprintf("odd input %d", i) || te.Panic {
				t.Fatalf("item %d: %v", i, ie.Errs[i])
			}
		} else if ie.Errs[i] != nil || got[i] != i {
			t.Fatalf("item %d: %d, %v", i, got[i], ie.Errs[i])
		}
	}

	got, err = pool.Map(p, panicAt, seq(6), pool.ChunkSize(6))
	var te *pool.TaskError
	if !errors.Is(err, pool.ErrTaskPanicked) || !errors.As(err, &te) {
		t.Fatalf("err = %v, want a panic", err)
	}
	if te.Index != 3 || te.Message != "boom at 3" || !strings.Contains(te.Stack, "pool_test.panicAt") {
		t.Fatalf("panic error: %+v", te)
	}
	if want := []int{0, 1, 2, 0, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("results beside the panic: %v, want %v", got, want)
	}
	// The worker survived its task's panic: the pool still has its two first workers.
	if v, err := pool.Apply(p, square, 7); err != nil || v != 49 {
		t.Fatalf("Apply after a panic: %d, %v", v, err)
	}
	if w := p.Progress().Workers; w != 2 {
		t.Fatalf("%d workers started, want 2: a panic must not cost a worker", w)
	}
	closeJoin(t, p)
}

func TestApplyAndAsync(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	if v, err := pool.Apply(p, square, 12); err != nil || v != 144 {
		t.Fatalf("Apply: %d, %v", v, err)
	}
	slow, err := pool.ApplyAsync(p, sleepMs, 300)
	if err != nil {
		t.Fatal(err)
	}
	if slow.Ready() {
		t.Fatal("Ready before the task could end")
	}
	if ok, err := slow.Successful(); ok || !errors.Is(err, pool.ErrNotReady) {
		t.Fatalf("Successful before ready: %v, %v", ok, err)
	}
	if _, err := slow.Get(0); !errors.Is(err, pool.ErrTimeout) {
		t.Fatalf("Get(0): %v", err)
	}
	if _, err := slow.Get(10 * time.Millisecond); !errors.Is(err, pool.ErrTimeout) || !strings.Contains(err.Error(), "10ms") {
		t.Fatalf("Get(10ms): %v", err)
	}
	if _, err := slow.Get(-2); !errors.Is(err, pool.ErrBadTimeout) {
		t.Fatalf("Get(-2): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := slow.GetContext(ctx); err != context.DeadlineExceeded {
		t.Fatalf("GetContext: %v", err)
	}
	if err := slow.Wait(pool.Forever); err != nil {
		t.Fatal(err)
	}
	if v, err := slow.Get(pool.Forever); err != nil || v != 300 {
		t.Fatalf("Get: %d, %v", v, err)
	}
	if ok, err := slow.Successful(); !ok || err != nil {
		t.Fatalf("Successful: %v, %v", ok, err)
	}
	ma, err := pool.MapAsync(p, failOdd, []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	<-ma.Done()
	if ok, _ := ma.Successful(); ok {
		t.Fatal("MapAsync with a failing item: Successful")
	}
	if v, err := ma.GetContext(context.Background()); !errors.Is(err, pool.ErrTaskFailed) || v[0] != 2 {
		t.Fatalf("MapAsync: %v, %v", v, err)
	}
	closeJoin(t, p)
}

func TestStarmap(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	got, err := pool.Starmap[string](p, add3, [][]any{{1, 0.5, "a"}, {2, 2.0, "b"}, {int64(3), float32(1), "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1.5", "b4", "c4"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	ar, err := pool.StarmapAsync[string](p, add3, [][]any{{4, 0.0, "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ar.Get(pool.Forever); err != nil || v[0] != "d4" {
		t.Fatalf("StarmapAsync: %v, %v", v, err)
	}
	for _, bad := range [][]any{{1, 2.0}, {"x", 2.0, "c"}, {1, 2.0, "c", 4}} {
		if _, err := pool.Starmap[string](p, add3, [][]any{bad}); !errors.Is(err, pool.ErrBadArgs) {
			t.Errorf("Starmap(%v): %v, want ErrBadArgs", bad, err)
		}
	}
	if _, err := pool.Starmap[int](p, add3, nil); !errors.Is(err, pool.ErrBadArgs) {
		t.Errorf("Starmap[int] of a string function: %v", err)
	}
	closeJoin(t, p)
}

func TestInitializer(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2, Initializer: setPrefix, InitArgs: []any{"w:"}})
	got, err := pool.Map(p, prefixed, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"w:1", "w:2", "w:3"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	closeJoin(t, p)
	if _, err := pool.New(&pool.Options{Workers: 1, Initializer: setPrefix}); !errors.Is(err, pool.ErrBadArgs) {
		t.Fatalf("initializer without its argument: %v", err)
	}
	if _, err := pool.New(&pool.Options{Workers: 1, Initializer: square}); !errors.Is(err, pool.ErrNotRegistered) {
		t.Fatalf("initializer registered with Register: %v", err)
	}
}

var unregistered = func(x int) (int, error) { return x, nil }

func notRegistered(x int) (int, error) { return x, nil }

func TestBadCalls(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 1})
	if _, err := pool.Map(p, unregistered, []int{1}); !errors.Is(err, pool.ErrNotRegistered) || !strings.Contains(err.Error(), "closure") {
		t.Errorf("closure: %v", err)
	}
	if _, err := pool.Map(p, notRegistered, []int{1}); !errors.Is(err, pool.ErrNotRegistered) || !strings.Contains(err.Error(), "pool.Register(pool_test.notRegistered)") {
		t.Errorf("unregistered: %v", err)
	}
	if _, err := pool.Apply(p, notRegistered, 1); !errors.Is(err, pool.ErrNotRegistered) {
		t.Errorf("Apply unregistered: %v", err)
	}
	if _, err := pool.Map(p, square, []int{1}, pool.ChunkSize(0)); !errors.Is(err, pool.ErrBadArgs) {
		t.Errorf("chunk size 0: %v", err)
	}
	if _, err := pool.Imap(p, square, slices.Values([]int{1}), pool.ChunkSize(-1)); !errors.Is(err, pool.ErrBadArgs) {
		t.Errorf("Imap chunk size -1: %v", err)
	}
	if _, err := pool.Starmap[int](p, square, nil); !errors.Is(err, pool.ErrNotRegistered) {
		t.Errorf("Starmap of a Register function: %v", err)
	}
	for _, o := range []pool.Options{{Workers: -1}, {Retries: -1}, {MaxTasksPerChild: -2}} {
		if _, err := pool.New(&o); !errors.Is(err, pool.ErrBadArgs) {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
	if err := p.Join(); !errors.Is(err, pool.ErrNotClosed) {
		t.Errorf("Join before Close: %v", err)
	}
	closeJoin(t, p)
	if _, err := pool.Map(p, square, []int{1}); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Map after Close: %v", err)
	}
	if _, err := pool.ApplyAsync(p, square, 1); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("ApplyAsync after Close: %v", err)
	}
	if _, err := pool.Imap(p, square, slices.Values([]int{1})); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Imap after Close: %v", err)
	}
}

// JoinTimeout and JoinContext give up while a task runs and leave the pool joinable; Join then
// waits for it.
func TestJoinBounded(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 1})
	if err := p.JoinTimeout(0); !errors.Is(err, pool.ErrNotClosed) {
		t.Fatalf("JoinTimeout before Close = %v", err)
	}
	ar, err := pool.ApplyAsync(p, sleepMs, 1000)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := p.JoinTimeout(-2); !errors.Is(err, pool.ErrBadTimeout) {
		t.Fatalf("JoinTimeout(-2) = %v, want ErrBadTimeout", err)
	}
	if err := p.JoinTimeout(10 * time.Millisecond); !errors.Is(err, pool.ErrTimeout) {
		t.Fatalf("JoinTimeout with a task running = %v, want ErrTimeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.JoinContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("JoinContext with a task running = %v", err)
	}
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
	if got, err := ar.Get(0); err != nil || got != 1000 {
		t.Fatalf("the task's result after Join: %d, %v", got, err)
	}
}

func TestImap(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 3})
	for _, cs := range []int{0, 1, 4} {
		var opts []pool.CallOption
		if cs > 0 {
			opts = append(opts, pool.ChunkSize(cs))
		}
		it, err := pool.Imap(p, sleepMs, slices.Values([]int{30, 1, 20, 0, 5, 0, 0, 10}), opts...)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for v, err := range it {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if want := []int{30, 1, 20, 0, 5, 0, 0, 10}; !slices.Equal(got, want) {
			t.Fatalf("chunk %d: got %v, want %v", cs, got, want)
		}
	}
	un, err := pool.ImapUnordered(p, square, slices.Values(seq(100)), pool.LenHint(100))
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, 100)
	for r := range un {
		if r.Err != nil || r.Value != r.Index*r.Index || seen[r.Index] {
			t.Fatalf("unordered result %+v", r)
		}
		seen[r.Index] = true
	}
	if slices.Contains(seen, false) {
		t.Fatal("ImapUnordered missed items")
	}
	// A channel source, and a loop that stops early.
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := range 50 {
			ch <- i
		}
	}()
	it, err := pool.Imap(p, square, pool.Chan(ch))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for v, err := range it {
		if err != nil || v != n*n {
			t.Fatalf("item %d: %d, %v", n, v, err)
		}
		n++
		if n == 10 {
			break
		}
	}
	for range ch { // let the sender finish
	}
	closeJoin(t, p)
}

// TestImapBoundedMemory streams a million items: the source is never more than the window ahead
// of the loop.
func TestImapBoundedMemory(t *testing.T) {
	const n, chunk, workers = 1_000_000, 500, 2
	p := newPool(t, &pool.Options{Workers: workers})
	var produced atomic.Int64
	src := func(yield func(int) bool) {
		for i := range n {
			produced.Add(1)
			if !yield(i) {
				return
			}
		}
	}
	it, err := pool.Imap(p, square, src, pool.ChunkSize(chunk))
	if err != nil {
		t.Fatal(err)
	}
	consumed, most := 0, int64(0)
	for v, err := range it {
		if err != nil || v != consumed*consumed {
			t.Fatalf("item %d: %d, %v", consumed, v, err)
		}
		consumed++
		most = max(most, produced.Load()-int64(consumed))
	}
	if consumed != n {
		t.Fatalf("%d items, want %d", consumed, n)
	}
	// The window is 4*workers*chunk items; one more may be taken from the source as the feeder
	// checks for room.
	if bound := int64(4*workers*chunk + 1); most > bound {
		t.Fatalf("the source ran %d items ahead of the loop, more than %d", most, bound)
	}
	t.Logf("the source ran at most %d items ahead", most)
	closeJoin(t, p)
}

func TestCloseFinishesWork(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	var ars []*pool.AsyncResult[int]
	for i := range 5 {
		ar, err := pool.ApplyAsync(p, sleepMs, 20+i)
		if err != nil {
			t.Fatal(err)
		}
		ars = append(ars, ar)
	}
	closeJoin(t, p)
	for i, ar := range ars {
		if !ar.Ready() {
			t.Fatalf("task %d not ready after Join", i)
		}
		if v, err := ar.Get(0); err != nil || v != 20+i {
			t.Fatalf("task %d: %d, %v", i, v, err)
		}
	}
	if n := len(testutil.Children()); n != 0 {
		t.Fatalf("%d children left after Join", n)
	}
}

func TestTerminate(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	ar, err := pool.MapAsync(p, sleepMs, []int{5000, 5000, 5000, 5000, 5000}, pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	_, err = ar.Get(pool.Forever)
	var ie *pool.ItemsError
	if !errors.As(err, &ie) || len(ie.Errs) != 5 || !errors.Is(err, pool.ErrTerminated) {
		t.Fatalf("after Terminate: %v", err)
	}
	if n := len(testutil.Children()); n != 0 {
		t.Fatalf("%d children left after Terminate", n)
	}
	if err := p.Join(); err != nil {
		t.Fatalf("Join after Terminate: %v", err)
	}
}

func TestMaxTasksPerChild(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2, MaxTasksPerChild: 3})
	pids, err := pool.Map(p, whoAmI, seq(30), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for _, pid := range pids {
		count[pid]++
	}
	for pid, n := range count {
		if n > 3 {
			t.Fatalf("worker %d ran %d tasks, more than MaxTasksPerChild", pid, n)
		}
	}
	if len(count) < 10 {
		t.Fatalf("30 tasks ran in %d workers, want at least 10", len(count))
	}
	closeJoin(t, p)
}

func TestConcurrentCalls(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2})
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			got, err := pool.Map(p, square, seq(200+g), pool.ChunkSize(1+g))
			if err == nil && !slices.Equal(got, squares(200+g)) {
				err = fmt.Errorf("goroutine %d: wrong results", g)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	closeJoin(t, p)
}

var _ = pool.Register(echoUpper)

func echoUpper(s string) (string, error) { return strings.ToUpper(s), nil }

// TestLargeMessages: arguments and results far larger than the rings still go through (the rings
// spill them to the heap).
func TestLargeMessages(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2, QueueSize: 4096})
	big := strings.Repeat("abc", 1<<20)
	got, err := pool.Map(p, echoUpper, []string{big, "x", big})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != strings.ToUpper(big) || got[1] != "X" || got[2] != got[0] {
		t.Fatal("large messages came back wrong")
	}
	closeJoin(t, p)
}

var _ = pool.Register(waitCancel)

// waitCancel waits for its context to be cancelled by the soft time limit.
func waitCancel(int) (int, error) {
	ctx := pool.TaskContext()
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestTaskTimeout: a task that watches its context stops at the soft limit and its worker carries
// on; one that does not is stopped by killing its worker, which is replaced; quick tasks are
// unaffected.
func TestTaskTimeout(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 2, TaskTimeout: 100 * time.Millisecond, KillGrace: 100 * time.Millisecond})
	_, err := pool.Apply(p, waitCancel, 1)
	var te *pool.TaskError
	if !errors.Is(err, pool.ErrTaskTimeout) || !errors.As(err, &te) || !te.Timeout || errors.Is(err, pool.ErrWorkerDied) {
		t.Fatalf("soft limit: %v", err)
	}
	if w := p.Progress().Workers; w != 2 {
		t.Fatalf("%d workers after a soft time limit, want 2", w)
	}
	_, err = pool.Apply(p, sleepMs, 60_000)
	var wd *pool.WorkerDiedError
	if !errors.Is(err, pool.ErrTaskTimeout) || !errors.As(err, &wd) || wd.ExitCode != -9 || wd.Limit != 200*time.Millisecond {
		t.Fatalf("hard limit: %v", err)
	}
	if !strings.Contains(err.Error(), "time limit of 200ms") {
		t.Fatalf("message: %v", err)
	}
	got, err := pool.Map(p, square, seq(100), pool.ChunkSize(3))
	if err != nil || !slices.Equal(got, squares(100)) {
		t.Fatalf("after the time limits: %v", err)
	}
	if !testutil.Eventually(never, func() bool { return p.Progress().Workers == 3 }) {
		t.Fatalf("%d workers started, want 3", p.Progress().Workers)
	}
	closeJoin(t, p)
}

// TestTerminateDuringImap: a loop over an Imap whose pool is terminated ends, each remaining item
// with ErrTerminated, and never hangs.
func TestTerminateDuringImap(t *testing.T) {
	p := newPool(t, nil)
	if p.Size() != proc.CPUCount() {
		t.Fatalf("default size %d, want CPUCount %d", p.Size(), proc.CPUCount())
	}
	it, err := pool.Imap(p, sleepMs, slices.Values(slices.Repeat([]int{50}, 40)))
	if err != nil {
		t.Fatal(err)
	}
	n, terminated := 0, 0
	for _, err := range it {
		if n == 0 {
			go p.Terminate()
		}
		n++
		if errors.Is(err, pool.ErrTerminated) {
			terminated++
		} else if err != nil {
			t.Fatalf("item %d: %v", n-1, err)
		}
	}
	if terminated == 0 || n != 40 {
		t.Fatalf("%d items, %d terminated; want 40, some terminated", n, terminated)
	}
}

func lateSquare(x int) (int, error) { return x * x, nil }

// TestRegisteredTooLate: a function registered after proc.Main ran (here, in a test; in a program,
// in main) is unknown to the workers: its items fail with a message saying so, and no worker is
// lost over it.
func TestRegisteredTooLate(t *testing.T) {
	pool.Register(lateSquare)
	p := newPool(t, &pool.Options{Workers: 2})
	_, err := pool.Map(p, lateSquare, seq(5))
	var ie *pool.ItemsError
	if !errors.As(err, &ie) || len(ie.Errs) != 5 || !errors.Is(err, pool.ErrTaskFailed) || !strings.Contains(err.Error(), "not registered in the worker") {
		t.Fatalf("err = %v", err)
	}
	if w := p.Progress().Workers; w != 2 {
		t.Fatalf("%d workers started, want 2", w)
	}
	closeJoin(t, p)
}

var _ = pool.Register(hog)

// hoard is memory a hog task keeps in its worker.
var hoard [][]byte

// hog keeps mb more MiB, touched, in its worker, and returns how many MiB it holds.
func hog(mb int) (int, error) {
	b := make([]byte, mb<<20)
	for i := range b {
		b[i] = 1
	}
	hoard = append(hoard, b)
	return len(hoard) * mb, nil
}

// TestMaxMemoryPerChild: a worker that grows past the limit is retired after its item and
// replaced, and no item fails.
func TestMaxMemoryPerChild(t *testing.T) {
	p := newPool(t, &pool.Options{Workers: 1, MaxMemoryPerChild: 48 << 20})
	got, err := pool.Map(p, hog, slices.Repeat([]int{16}, 8), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Max(got) > 64 {
		t.Fatalf("a worker held %d MiB: it was not retired at 48 MiB (results %v)", slices.Max(got), got)
	}
	if w := p.Progress().Workers; w < 3 {
		t.Fatalf("%d workers started for 128 MiB in 16 MiB items with a 48 MiB limit, want at least 3", w)
	}
	t.Logf("MiB held after each item: %v; %d workers", got, p.Progress().Workers)
	closeJoin(t, p)
}

// TestConventions: pool's timeout values are the project's one set, and its corruption error
// matches shm.ErrCorrupt (the same checks internal/conventions makes of the other packages).
func TestConventions(t *testing.T) {
	if pool.Forever != proc.Forever {
		t.Errorf("pool.Forever = %v", pool.Forever)
	}
	if pool.ErrTimeout != proc.ErrTimeout || pool.ErrBadTimeout != proc.ErrBadTimeout {
		t.Error("pool's ErrTimeout or ErrBadTimeout is not the one value")
	}
	if !errors.Is(pool.ErrCorrupt, shm.ErrCorrupt) {
		t.Error("pool.ErrCorrupt does not match shm.ErrCorrupt")
	}
}

func takesChan(chan int) (int, error) { return 0, nil }

func returnsFunc(int) (func(), error) { return nil, nil }

// TestRegisterRefusesTypes: argument and result types the codec cannot carry are refused when
// the function is registered, not at each item in a worker.
func TestRegisterRefusesTypes(t *testing.T) {
	for name, register := range map[string]func(){
		"argument": func() { pool.Register(takesChan) },
		"result":   func() { pool.Register(returnsFunc) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), name+" type cannot cross processes") {
					t.Errorf("Register with a bad %s type: panic %v", name, r)
				}
			}()
			register()
		}()
	}
}
