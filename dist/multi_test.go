package dist_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(workInChild)
	_ = dist.Register(whoSquares)
	_ = dist.Register(markedRun)
	_ = dist.Register(spin)
)

// childConn is the connection of a worker child, for the task functions that use the server.
var childConn *dist.Conn

// workInChild, in a child process, runs conc worker slots of the pool name until SIGTERM.
func workInChild(urls []string, o dist.PoolOptions, conc int) error {
	c, err := dist.Connect(urls, dist.Options{Token: "s3cret"})
	if err != nil {
		return err
	}
	defer c.Close()
	childConn = c
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return dist.Work(ctx, c, &o, conc)
}

// A Sq is a square and the pid of the process that computed it.
type Sq struct {
	N   int64
	Pid int
}

func whoSquares(n int64) (Sq, error) { return Sq{N: n * n, Pid: os.Getpid()}, nil }

// markedRun counts its runs in the dict "runs" and records its pid there, then sleeps ms and
// returns its pid.
func markedRun(ms int) (int, error) {
	d, err := dist.NewDict[int](childConn, "runs")
	if err != nil {
		return 0, err
	}
	if _, err := d.Update("n", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
		return 0, err
	}
	if err := d.Set("pid", os.Getpid()); err != nil {
		return 0, err
	}
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return os.Getpid(), nil
}

// spin keeps a CPU busy for ms milliseconds without a call that yields, and counts its runs.
func spin(ms int) (int, error) {
	d, err := dist.NewDict[int](childConn, "runs")
	if err != nil {
		return 0, err
	}
	if _, err := d.Update("n", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
		return 0, err
	}
	end := time.Now().Add(time.Duration(ms) * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		for i := range 100000 {
			x += i ^ x
		}
	}
	return x & 1, nil
}

// workers starts n worker processes of the pool name, terminated (SIGTERM, a clean exit
// checked) at the test's end unless killed by the test.
func workers(t testing.TB, urls []string, o dist.PoolOptions, n, conc int, env ...string) []*proc.Process {
	t.Helper()
	var kids []*proc.Process
	for range n {
		p := proc.New(workInChild, urls, o, conc)
		p.Env = env
		p.Daemon = true // dies with the test binary, even one killed by a timeout
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, p)
	}
	t.Cleanup(func() {
		for _, p := range kids {
			if p.IsAlive() {
				_ = p.Terminate()
			}
		}
		for _, p := range kids {
			// SIGTERM before the child set its handler ends it by the signal: as intended.
			if err := p.WaitTimeout(30 * time.Second); err != nil && !killed(p) && !endedBy(p, syscall.SIGTERM) {
				t.Errorf("worker pid %d: %v", p.Pid(), err)
			}
		}
	})
	return kids
}

// killed reports whether p ended by SIGKILL (the test's own kill).
func killed(p *proc.Process) bool { return endedBy(p, syscall.SIGKILL) }

func endedBy(p *proc.Process, sig syscall.Signal) bool {
	code, ok := p.ExitCode()
	return ok && code == -int(sig)
}

// 10,000 tasks (one item each) through two worker processes: every result arrives, right,
// exactly once.
func TestPoolExactlyOnceTwoProcesses(t *testing.T) {
	s := serve(t)
	n := 10000
	workers(t, []string{s.URL()}, dist.PoolOptions{Name: "once", AckWait: 10 * time.Second}, 2, 4)
	p := newPool(t, s, &dist.PoolOptions{Name: "once", AckWait: 10 * time.Second, Workers: 64})
	items := make([]int64, n)
	for i := range items {
		items[i] = int64(i)
	}
	seq, err := dist.ImapUnordered(p, whoSquares, slices.Values(items), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, n)
	pids := map[int]int{}
	for r := range seq {
		if r.Err != nil || r.Index < 0 || r.Index >= n || r.Value.N != int64(r.Index)*int64(r.Index) {
			t.Fatalf("result %+v", r)
		}
		seen[r.Index]++
		pids[r.Value.Pid]++
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("task %d delivered %d times", i, k)
		}
	}
	t.Logf("tasks per worker pid: %v; duplicate results dropped: %d", pids, p.Dropped())
	// Map of the same, chunked by default: all there, in order.
	got, err := dist.Map(p, whoSquares, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v.N != int64(i)*int64(i) {
			t.Fatalf("Map[%d] = %+v", i, v)
		}
	}
}

// waitKey waits until the dict holds key, and returns its value.
func waitKey(t *testing.T, d *dist.Dict[int], key string) int {
	t.Helper()
	var v int
	if !testutil.Eventually(30*time.Second, func() bool {
		var err error
		v, err = d.GetTimeout(key, 5*time.Second)
		return err == nil
	}) {
		t.Fatalf("%s never set", key)
	}
	return v
}

// startMarked starts two worker processes of the pool name, one slot each, and a markedRun of
// ms on them; it returns once the task runs, with the worker running it and the other.
func startMarked(t *testing.T, name string, ackWait time.Duration, ms int) (*dist.Pool, *dist.Dict[int], *pool.AsyncResult[int], *proc.Process, *proc.Process) {
	t.Helper()
	s := serve(t)
	kids := workers(t, []string{s.URL()}, dist.PoolOptions{Name: name, AckWait: ackWait}, 2, 1)
	p := newPool(t, s, &dist.PoolOptions{Name: name, AckWait: ackWait})
	runs := newDict(t, s, "runs")
	ar, err := dist.ApplyAsync(p, markedRun, ms)
	if err != nil {
		t.Fatal(err)
	}
	pid := waitKey(t, runs, "pid")
	switch pid {
	case kids[0].Pid():
		return p, runs, ar, kids[0], kids[1]
	case kids[1].Pid():
		return p, runs, ar, kids[1], kids[0]
	}
	t.Fatalf("pid %d runs the task, not a worker of %v", pid, kids)
	return nil, nil, nil, nil, nil
}

// A worker process SIGKILLed while it runs a task: after AckWait the other worker runs it,
// and the call gets one result, from the survivor.
func TestPoolWorkerKilledMidTask(t *testing.T) {
	ackWait := time.Second
	p, runs, ar, victim, survivor := startMarked(t, "kill", ackWait, 1500)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	got, err := ar.Get(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got != survivor.Pid() {
		t.Fatalf("result from pid %d, want the survivor %d (victim %d)", got, survivor.Pid(), victim.Pid())
	}
	if n := waitKey(t, runs, "n"); n != 2 {
		t.Fatalf("the task ran %d times, want 2 (killed once, then completed)", n)
	}
	if err := victim.WaitTimeout(10 * time.Second); !killed(victim) {
		t.Fatalf("victim ended with %v, not by our SIGKILL", err)
	}
	time.Sleep(ackWait) // a late copy of the result would arrive within this
	if d := p.Dropped(); d != 0 {
		t.Fatalf("%d duplicate results reached the pool", d)
	}
}

// A worker told to stop (SIGTERM) mid-task hands the task back at once: the other worker
// completes it long before AckWait.
func TestPoolCleanShutdownHandsBack(t *testing.T) {
	ackWait := 2 * time.Minute
	_, _, ar, runner, _ := startMarked(t, "clean", ackWait, 500)
	if err := runner.Terminate(); err != nil {
		t.Fatal(err)
	}
	if err := runner.WaitTimeout(30 * time.Second); err != nil {
		t.Fatalf("terminated worker: %v", err)
	}
	pid := runner.Pid()
	got, err := ar.Get(ackWait / 2) // without the hand-back it would come after AckWait
	if err != nil {
		t.Fatal(err)
	}
	if got == pid {
		t.Fatalf("the result came from the worker that stopped")
	}
}

// A CPU-bound task running 3 AckWaits in a worker limited to one thread keeps its task through
// heartbeats: it runs once.
func TestPoolHeartbeatsOutlastCPUBoundTask(t *testing.T) {
	s := serve(t)
	ackWait := time.Second
	workers(t, []string{s.URL()}, dist.PoolOptions{Name: "cpu", AckWait: ackWait}, 1, 2, "GOMAXPROCS=1")
	p := newPool(t, s, &dist.PoolOptions{Name: "cpu", AckWait: ackWait})
	runs := newDict(t, s, "runs")
	if _, err := dist.Map(p, spin, []int{3000, 3000}, pool.ChunkSize(1)); err != nil {
		t.Fatal(err)
	}
	if n := waitKey(t, runs, "n"); n != 2 {
		t.Fatalf("2 tasks ran %d times: a heartbeat was starved", n)
	}
}

// Tasks queued before a server restart on the same store are all run after it, each result
// delivered once, to the same Pool (its connection reconnects).
func TestPoolServerRestart(t *testing.T) {
	dir := t.TempDir()
	s1, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	url := s1.URL()
	_, port, _ := net.SplitHostPort(url[len("nats://"):])
	c, err := dist.Connect([]string{url}, dist.Options{Token: "s3cret"})
	if err != nil {
		s1.Shutdown()
		t.Fatal(err)
	}
	defer c.Close()
	p, err := dist.NewPool(c, &dist.PoolOptions{Name: "restart"})
	if err != nil {
		s1.Shutdown()
		t.Fatal(err)
	}
	items := make([]int, 300)
	for i := range items {
		items[i] = i
	}
	ar, err := dist.MapAsync(p, square, items, pool.ChunkSize(1))
	s1.Shutdown()
	if err != nil {
		p.Terminate()
		t.Fatal(err)
	}
	pn, _ := strconv.Atoi(port)
	s2, err := server.Serve(server.Options{StoreDir: dir, Token: "s3cret", Port: pn})
	if err != nil {
		p.Terminate()
		t.Fatal(err)
	}
	defer s2.Shutdown()
	t0 := time.Now()
	work(t, s2, &dist.PoolOptions{Name: "restart"}, 4)
	got, err := ar.Get(time.Minute)
	t.Logf("all results %v after the restart", time.Since(t0))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("result %d = %d after the restart", i, v)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// A 3-node cluster with the pool's streams replicated 3 times: the node the submitter is
// connected to is shut down mid-run, and every task's result arrives once.
func TestPoolClusterNodeLoss(t *testing.T) {
	ports := freePorts(t, 3)
	var nodes []*server.Server
	for i := range 3 {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
			}
		}
		s, err := server.Serve(server.Options{StoreDir: t.TempDir(), Token: "s3cret", Name: "n" + strconv.Itoa(i),
			Cluster: &server.Cluster{Name: "shmkit", Port: ports[i], Routes: routes}})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, s)
	}
	alive := []bool{true, true, true}
	t.Cleanup(func() {
		for i, s := range nodes {
			if alive[i] {
				s.Shutdown()
			}
		}
	})
	urls := []string{nodes[0].URL(), nodes[1].URL(), nodes[2].URL()}
	o := &dist.PoolOptions{Name: "cluster", Replicas: 3, AckWait: 2 * time.Second, Workers: 16}
	c, err := dist.Connect(urls, dist.Options{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var p *dist.Pool
	tp := time.Now()
	if !testutil.Eventually(30*time.Second, func() bool { // JetStream elects its leaders
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p, err = dist.NewPoolContext(ctx, c, o)
		return err == nil
	}) {
		t.Fatalf("no pool on the cluster: %v", err)
	}
	t.Logf("pool ready after %v", time.Since(tp))
	defer p.Terminate()
	if c.ConnectedURL() != urls[0] {
		t.Fatalf("connected to %s, not the first node", c.ConnectedURL())
	}
	// Workers on the two other nodes, in this process.
	for _, i := range []int{1, 2} {
		wc, err := dist.Connect([]string{urls[i], urls[3-i]}, dist.Options{Token: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- dist.Work(ctx, wc, o, 4) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
	}
	n := 2000
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	seq, err := dist.ImapUnordered(p, square, slices.Values(items), pool.ChunkSize(1))
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, n)
	got := 0
	t0 := time.Now()
	// A lost task or result would leave the loop waiting for ever: past three minutes (a bound
	// against hangs; the run takes seconds) the pool is terminated, which fails the items still
	// awaited.
	stuck := time.AfterFunc(3*time.Minute, func() { p.Terminate() })
	defer stuck.Stop()
	for r := range seq {
		if r.Err != nil || r.Value != r.Index*r.Index {
			t.Fatalf("result %+v (%d results had arrived)", r, got)
		}
		seen[r.Index]++
		if got++; got == n/4 {
			t.Logf("%d results in %v", got, time.Since(t0))
			t0 = time.Now()
			nodes[0].Shutdown() // the submitter's node, mid-run
			alive[0] = false
		}
	}
	t.Logf("the other %d results in %v after the node's loss", n-n/4, time.Since(t0))
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("task %d delivered %d times", i, k)
		}
	}
	if c.ConnectedURL() == urls[0] {
		t.Fatal("still connected to the node that was shut down")
	}
	t.Logf("submitter moved to %s; duplicate results dropped: %d", c.ConnectedURL(), p.Dropped())
}

// Bad input: each a clear error, within the call's bound.
func TestBadInput(t *testing.T) {
	s := serve(t)
	c := connect(t, s)
	if _, err := dist.NewQueue[int](c, "a.b", 0); !errors.Is(err, dist.ErrBadArgs) {
		t.Errorf("NewQueue(a.b) = %v, want ErrBadArgs", err)
	}
	if _, err := dist.NewDict[int](c, "has space"); !errors.Is(err, dist.ErrBadArgs) {
		t.Errorf("NewDict(has space) = %v, want ErrBadArgs", err)
	}
	if _, err := dist.NewPool(c, &dist.PoolOptions{Name: "r3", Replicas: 3}); !errors.Is(err, dist.ErrRefused) {
		t.Errorf("a replicated pool on a lone server = %v, want ErrRefused", err)
	}
	q, err := dist.NewQueue[chan int](c, "chans", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Put(make(chan int)); !errors.Is(err, dist.ErrBadArgs) {
		t.Errorf("Put of a channel = %v, want ErrBadArgs", err)
	}
	fd, err := dist.NewDict[func()](c, "funcs")
	if err != nil {
		t.Fatal(err)
	}
	if err := fd.Set("f", func() {}); !errors.Is(err, dist.ErrBadArgs) {
		t.Errorf("Set of a func = %v, want ErrBadArgs", err)
	}
	d, err := dist.NewDict[int](c, "bounds")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetTimeout("k", -2); !errors.Is(err, dist.ErrBadTimeout) {
		t.Errorf("GetTimeout(-2) = %v, want ErrBadTimeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dist.ConnectContext(ctx, []string{s.URL()}, dist.Options{Token: "s3cret"}); !errors.Is(err, context.Canceled) {
		t.Errorf("ConnectContext with an ended context = %v", err)
	}
	s.Shutdown() // the server goes away: a call with a bound ends within it
	start := time.Now()
	if _, err := d.GetTimeout("k", 300*time.Millisecond); !errors.Is(err, dist.ErrTimeout) {
		t.Errorf("GetTimeout with the server gone = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("GetTimeout(300ms) with the server gone returned after %v", el)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := d.SetContext(ctx, "k", 1); !errors.Is(err, dist.ErrTimeout) {
		t.Errorf("SetContext with the server gone = %v, want ErrTimeout", err)
	}
	c.Close()
	if err := d.SetTimeout("k", 1, time.Second); !errors.Is(err, dist.ErrNoServer) {
		t.Errorf("SetTimeout on a closed connection = %v, want ErrNoServer", err)
	}
}

func TestBadUserPassword(t *testing.T) {
	s, err := server.Serve(server.Options{StoreDir: t.TempDir(), User: "ann", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	_, err = dist.Connect([]string{s.URL()}, dist.Options{User: "ann", Password: "wrong", Timeout: time.Second})
	if !errors.Is(err, dist.ErrAuth) {
		t.Fatalf("Connect with a wrong password = %v, want ErrAuth", err)
	}
	c, err := dist.Connect([]string{s.URL()}, dist.Options{User: "ann", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
