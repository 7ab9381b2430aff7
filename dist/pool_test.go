package dist_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
	"github.com/shmkit/shmkit/pool"
)

var (
	_ = dist.Register(square)
	_ = dist.Register(failOdd)
	_ = dist.Register(panicky)
	_ = dist.RegisterFunc(addMul)
)

func square(n int) (int, error) { return n * n, nil }

func failOdd(n int) (int, error) {
	if n%2 == 1 {
		return 0, fmt.Errorf("odd %d", n)
	}
	return n, nil
}

func panicky(n int) (int, error) { panic(fmt.Sprintf("boom %d", n)) }

func addMul(a, b int, s string) (string, error) { return fmt.Sprintf("%s%d", s, a*b), nil }

// work runs n worker slots of the pool o in this process until the test ends.
func work(t *testing.T, s *server.Server, o *dist.PoolOptions, n int) {
	t.Helper()
	c := connect(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dist.Work(ctx, c, o, n) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	})
}

func newPool(t testing.TB, s *server.Server, o *dist.PoolOptions) *dist.Pool {
	t.Helper()
	p, err := dist.NewPool(connect(t, s), o)
	if err != nil {
		t.Fatal(err)
	}
	// A lost task or result would leave a call waiting for ever, and the test with it until the
	// package's timeout: past three minutes (a bound against hangs, far above any test's
	// time on a loaded machine) the pool is terminated, which fails what is awaited.
	stuck := time.AfterFunc(3*time.Minute, func() { p.Terminate() })
	t.Cleanup(func() {
		stuck.Stop()
		p.Terminate()
	})
	return p
}

// The calls of the local pool, on the distributed one, with workers in this process.
func TestPoolCalls(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "calls", AckWait: 5 * time.Second}
	work(t, s, o, 4)
	p := newPool(t, s, o)
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	got, err := dist.Map(p, square, items, pool.ChunkSize(7))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("Map[%d] = %d", i, v)
		}
	}
	if v, err := dist.Apply(p, square, 12); err != nil || v != 144 {
		t.Fatalf("Apply = %d, %v", v, err)
	}
	ar, err := dist.ApplyAsync(p, square, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Wait(time.Minute); err != nil || !ar.Ready() {
		t.Fatalf("Wait = %v", err)
	}
	if ok, err := ar.Successful(); !ok || err != nil {
		t.Fatalf("Successful = %v, %v", ok, err)
	}
	seq, err := dist.Imap(p, square, slices.Values(items[:20]))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for v, err := range seq {
		if err != nil || v != i*i {
			t.Fatalf("Imap item %d = %d, %v", i, v, err)
		}
		i++
	}
	if i != 20 {
		t.Fatalf("Imap yielded %d items", i)
	}
	seen := map[int]bool{}
	useq, err := dist.ImapUnordered(p, square, slices.Values(items[:20]), pool.ChunkSize(3))
	if err != nil {
		t.Fatal(err)
	}
	for r := range useq {
		if r.Err != nil || r.Value != r.Index*r.Index || seen[r.Index] {
			t.Fatalf("ImapUnordered result %+v", r)
		}
		seen[r.Index] = true
	}
	if len(seen) != 20 {
		t.Fatalf("ImapUnordered yielded %d items", len(seen))
	}
	sm, err := dist.Starmap[string](p, addMul, [][]any{{2, 3, "x"}, {4, 5, "y"}})
	if err != nil || !slices.Equal(sm, []string{"x6", "y20"}) {
		t.Fatalf("Starmap = %q, %v", sm, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dist.Apply(p, square, 1); !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("Apply after Close = %v, want pool.ErrClosed", err)
	}
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
}

// Task errors and panics arrive as the local pool's *pool.TaskError, in an *pool.ItemsError.
func TestPoolTaskErrors(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "errs"}
	work(t, s, o, 2)
	p := newPool(t, s, o)
	got, err := dist.Map(p, failOdd, []int{0, 1, 2, 3})
	var ie *pool.ItemsError
	if !errors.As(err, &ie) || len(ie.Errs) != 2 || !errors.Is(err, pool.ErrTaskFailed) {
		t.Fatalf("Map of failOdd = %v, %v", got, err)
	}
	if got[2] != 2 || ie.Errs[1] == nil || ie.Errs[3] == nil {
		t.Fatalf("Map of failOdd = %v, %v", got, ie.Errs)
	}
	_, err = dist.Apply(p, panicky, 5)
	var te *pool.TaskError
	if !errors.As(err, &te) || !te.Panic || !errors.Is(err, pool.ErrTaskPanicked) {
		t.Fatalf("Apply of panicky = %v", err)
	}
	if _, err := dist.Map(p, func(int) (int, error) { return 0, nil }, []int{1}); !errors.Is(err, pool.ErrNotRegistered) {
		t.Fatalf("Map of a closure = %v, want ErrNotRegistered", err)
	}
	if _, err := dist.Map(p, square, []int{1}, pool.ChunkSize(0)); !errors.Is(err, pool.ErrBadArgs) {
		t.Fatalf("ChunkSize(0) = %v, want ErrBadArgs", err)
	}
}

// A task naming a function the worker does not have is reported, once, and not redelivered.
func TestPoolUnknownFunction(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "unknown"}
	work(t, s, o, 1)
	p := newPool(t, s, o)
	ar, err := dist.SubmitUnknown(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.Get(time.Minute); !errors.Is(err, pool.ErrNotRegistered) {
		t.Fatalf("a task of an unknown function = %v, want ErrNotRegistered", err)
	}
}

// Terminate fails what has not ended; Join before Close is refused.
func TestPoolTerminate(t *testing.T) {
	s := serve(t)
	p := newPool(t, s, &dist.PoolOptions{Name: "noworkers"})
	if err := p.Join(); !errors.Is(err, pool.ErrNotClosed) {
		t.Fatalf("Join before Close = %v", err)
	}
	ar, err := dist.MapAsync(p, square, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ar.Get(50 * time.Millisecond); !errors.Is(err, dist.ErrTimeout) {
		t.Fatalf("Get with no worker = %v, want ErrTimeout", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Terminate(); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if _, err := ar.Get(time.Minute); !errors.Is(err, pool.ErrTerminated) {
		t.Fatalf("Get after Terminate = %v, want ErrTerminated", err)
	}
}

// JoinTimeout and JoinContext give up while a call is pending (no worker runs it) and leave the
// pool joinable; once the call has ended, Join releases the pool.
func TestPoolJoinBounded(t *testing.T) {
	s := serve(t)
	p := newPool(t, s, &dist.PoolOptions{Name: "joinbounded"})
	if err := p.JoinTimeout(0); !errors.Is(err, pool.ErrNotClosed) {
		t.Fatalf("JoinTimeout before Close = %v", err)
	}
	ar, err := dist.ApplyAsync(p, square, 3)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if err := p.JoinTimeout(-2); !errors.Is(err, dist.ErrBadTimeout) {
		t.Fatalf("JoinTimeout(-2) = %v, want ErrBadTimeout", err)
	}
	if err := p.JoinTimeout(20 * time.Millisecond); !errors.Is(err, dist.ErrTimeout) {
		t.Fatalf("JoinTimeout with a task pending = %v, want ErrTimeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.JoinContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("JoinContext, cancelled = %v", err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dist.Work(wctx, connect(t, s), &dist.PoolOptions{Name: "joinbounded"}, 1) }()
	if got, err := ar.Get(time.Minute); err != nil || got != 9 {
		t.Fatalf("Get = %d, %v", got, err)
	}
	if err := p.JoinContext(context.Background()); err != nil {
		t.Fatalf("JoinContext after the call ended: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

var _ = dist.Register(slowCounted)

// started and ended count the runs of slowCounted in this process.
var started, ended atomic.Int64

func slowCounted(ms int) (int, error) {
	started.Add(1)
	defer ended.Add(1)
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
}

// A task handed back more than MaxDeliveries times fails with an error matching
// pool.ErrWorkerDied, and is not given out again.
func TestPoolGivesUpAfterMaxDeliveries(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "giveup", MaxDeliveries: 2}
	p := newPool(t, s, o)
	ar, err := dist.ApplyAsync(p, slowCounted, 1000)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, s)
	base := started.Load()
	for i := range int64(2) { // two workers stop (and hand it back) while it runs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- dist.Work(ctx, c, o, 1) }()
		for started.Load() < base+i+1 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	work(t, s, o, 1) // the third delivery is refused and reported
	if _, err := ar.Get(time.Minute); !errors.Is(err, pool.ErrWorkerDied) {
		t.Fatalf("a task delivered 3 times with MaxDeliveries 2 = %v, want ErrWorkerDied", err)
	} else {
		t.Log(err)
	}
	if n := started.Load() - base; n != 2 {
		t.Fatalf("the task ran %d times, want 2", n)
	}
	for ended.Load() < started.Load() { // the runs whose worker stopped end on their own
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = dist.Register(blob)

// blob returns n bytes: a small argument with a large result.
func blob(n int) ([]byte, error) { return make([]byte, n), nil }

// Messages are bounded by the server's max payload (1 MiB by default): a chunk is cut short of
// it whatever its chunk size, an argument too large for any task is refused at the call, and a
// chunk whose results are too large fails with an error that says so, instead of retrying a
// publish the server can never take (the hang BenchmarkDistPool/nats-chunked hit at 3M items).
func TestPoolPayloadLimit(t *testing.T) {
	s := serve(t)
	p := newPool(t, s, &dist.PoolOptions{Name: "payload"})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dist.Work(wctx, connect(t, s), &dist.PoolOptions{Name: "payload"}, 2) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	const n = 300_000 // ~3 MB of encoded arguments in one requested chunk
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	got, err := dist.Map(p, square, xs, pool.ChunkSize(n))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("result %d = %d", i, v)
		}
	}

	if _, err := dist.Map(p, blob, []int{1, 2 << 20}); err != nil {
		if !errors.Is(err, pool.ErrBadArgs) {
			t.Fatalf("a 2 MiB result: %v, want ErrBadArgs", err)
		}
		var ie *pool.ItemsError
		if !errors.As(err, &ie) || ie.Errs[0] != nil || ie.Errs[1] == nil {
			t.Fatalf("a 2 MiB result in a chunk of its own fails alone: %v", err)
		}
	} else {
		t.Fatal("a 2 MiB result delivered through a 1 MiB server")
	}

	big := make([][]byte, 1)
	big[0] = make([]byte, 2<<20)
	if _, err := dist.Map(p, echoBytes, big); !errors.Is(err, pool.ErrBadArgs) {
		t.Fatalf("a 2 MiB argument: %v, want ErrBadArgs at the call", err)
	}
}

var _ = dist.Register(echoBytes)

func echoBytes(b []byte) (int, error) { return len(b), nil }

// A pool whose streams are in memory runs its calls as one on files; a pool or a worker asking
// for the other storage of existing streams fails with ErrBadArgs, naming the storage.
func TestPoolMemory(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "mem", Memory: true}
	work(t, s, o, 2)
	p := newPool(t, s, o)
	got, err := dist.Map(p, square, []int{1, 2, 3})
	if err != nil || !slices.Equal(got, []int{1, 4, 9}) {
		t.Fatalf("Map on memory streams = %v, %v", got, err)
	}
	_, err = dist.NewPool(connect(t, s), &dist.PoolOptions{Name: "mem"})
	if !errors.Is(err, dist.ErrBadArgs) || !strings.Contains(err.Error(), "Memory") {
		t.Fatalf("a file-storage pool on memory streams: %v, want ErrBadArgs", err)
	}
	err = dist.Work(context.Background(), connect(t, s), &dist.PoolOptions{Name: "mem"}, 1)
	if !errors.Is(err, dist.ErrBadArgs) {
		t.Fatalf("a file-storage worker on memory streams: %v, want ErrBadArgs", err)
	}
}

// TestPoolTidiesStreams: the streams keep messages until purged (see openStreams): tasks the
// workers are done with and results taken go from the server while a pool runs and after it,
// and none is purged before it is done with — every result still arrives, once.
func TestPoolTidiesStreams(t *testing.T) {
	s := serve(t)
	o := &dist.PoolOptions{Name: "tidy", AckWait: 5 * time.Second}
	work(t, s, o, 4)
	p := newPool(t, s, o)
	nc, err := nats.Connect(s.URL(), nats.Token("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(stream string) uint64 {
		t.Helper()
		st, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	const n = 2000
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	for round := range 2 {
		got, err := dist.Map(p, square, items, pool.ChunkSize(1))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != i*i {
				t.Fatalf("round %d: Map[%d] = %d", round, i, v)
			}
		}
		// While the pool runs, what it is done with is purged every TidyEvery: of the n tasks
		// and n results, at most those of the last moments stay (bounded wait, not a timing).
		deadline := time.Now().Add(50 * dist.TidyEvery)
		for tm, rm := msgs("SHMKIT_T_tidy"), msgs("SHMKIT_R_tidy"); tm+rm > n/2; tm, rm = msgs("SHMKIT_T_tidy"), msgs("SHMKIT_R_tidy") {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d tasks and %d results still stored %v after %d done", round, tm, rm, 50*dist.TidyEvery, n)
			}
			time.Sleep(dist.TidyEvery / 4)
		}
	}
	if d := p.Dropped(); d != 0 {
		t.Errorf("%d results dropped (a result delivered twice)", d)
	}
	p.Close()
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
	if rm := msgs("SHMKIT_R_tidy"); rm != 0 {
		t.Errorf("%d results stored after Join", rm)
	}
	deadline := time.Now().Add(5 * time.Second)
	for msgs("SHMKIT_T_tidy") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks stored 5 s after Join", msgs("SHMKIT_T_tidy"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
