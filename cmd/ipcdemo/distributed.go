package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/dist/server"
	"github.com/shmkit/shmkit/proc"
)

// The seed's task_master / task_worker: Python's BaseManager serving a task queue and a result
// queue over TCP with an authkey, here two dist.Queues on NATS JetStream.
//
//	ipcdemo master                                   # embedded server on -listen, then waits for workers
//	ipcdemo -addr nats://master-host:4222 worker     # on any machine; the same -authkey
//	ipcdemo distributed                              # a master and two workers on this machine
var (
	distListen  = flag.String("listen", "127.0.0.1:4222", "master: where its embedded NATS server listens (host:port; 0.0.0.0 for other machines)")
	distAddr    = flag.String("addr", "", "master: a NATS server or cluster to use instead of its own; worker: the master's (default nats://127.0.0.1:4222)")
	distAuthkey = flag.String("authkey", "abc", "master and worker: the shared secret (the NATS token)")
)

func init() {
	register(90, "distributed", "the seed's task_master and two task_workers on one machine: queues on NATS JetStream with an authkey", runDistributed)
	register(91, "master", "task_master alone (run by name): 10 random integers out, 10 results in, 10 s timeout", runMasterByName)
	register(92, "worker", "task_worker alone (run by name): takes tasks with a 1 s timeout, puts n * n results", runWorkerByName)
}

var _ = proc.Register(distWorkerChild)

// byName reports whether demo was asked for by name: master and worker wait for each other,
// so the full run leaves them to the distributed demo.
func byName(demo string) bool {
	for _, a := range flag.Args() {
		if a == demo {
			return true
		}
	}
	fmt.Printf("(%s runs when named: ipcdemo %s; the distributed demo shows it)\n", demo, demo)
	return false
}

func runMasterByName() error {
	if !byName("master") {
		return nil
	}
	return distMaster(*distAddr, *distListen, *distAuthkey, nil, nil)
}

func runWorkerByName() error {
	if !byName("worker") {
		return nil
	}
	addr := *distAddr
	if addr == "" {
		addr = "nats://127.0.0.1:4222"
	}
	return distWorker(addr, *distAuthkey)
}

// runDistributed runs the master here, on an embedded server on a free loopback port, and two
// workers as child processes that connect to it with the authkey.
func runDistributed() error {
	var kids []*proc.Process
	var err error
	wait := func() error { // before the master shuts its server down
		var errs error
		for _, p := range kids {
			errs = errors.Join(errs, p.WaitTimeout(30*time.Second))
		}
		return errs
	}
	err = distMaster("", "127.0.0.1:0", *distAuthkey, func(url string) error {
		for range 2 {
			p, err := proc.Start(distWorkerChild, url, *distAuthkey)
			if err != nil {
				return err
			}
			kids = append(kids, p)
		}
		return nil
	}, wait)
	return err
}

func distWorkerChild(url, authkey string) error { return distWorker(url, authkey) }

// distMaster is task_master: it serves its queues (an embedded server on listen, unless addr
// names a server to use), puts 10 random integers, and reads 10 results with a 10 s timeout.
// started, if not nil, is called with the server's URL once the queues exist; done, if not
// nil, after the results, before the server is shut down.
func distMaster(addr, listen, authkey string, started func(url string) error, done func() error) error {
	url := addr
	if url == "" {
		host, port, err := splitHostPort(listen)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "ipcdemo-dist-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s, err := server.Serve(server.Options{Host: host, Port: port, StoreDir: dir, Token: authkey})
		if err != nil {
			return err
		}
		defer s.Shutdown() // the master shuts the manager down when done
		url = s.URL()
		fmt.Printf("Master: serving the queues at %s\n", url)
	}
	c, tasks, results, err := distQueues(url, authkey)
	if err != nil {
		return err
	}
	defer c.Close()
	if started != nil {
		if err := started(url); err != nil {
			return err
		}
	}
	for range 10 {
		n := rand.IntN(10000)
		fmt.Printf("Put task %d...\n", n)
		if err := tasks.PutTimeout(n, 10*time.Second); err != nil {
			return err
		}
	}
	fmt.Println("Try get results...")
	for range 10 {
		r, err := results.Get(10 * time.Second)
		if err != nil {
			return fmt.Errorf("master: result: %w", err)
		}
		fmt.Printf("Result: %s\n", r)
	}
	if done != nil {
		if err := done(); err != nil {
			return err
		}
	}
	fmt.Println("master exit.")
	return nil
}

// distWorker is task_worker: it connects with the authkey, takes tasks with a 1 s timeout,
// and puts "n * n = r" results; it exits once the task queue has stayed empty for 1 s.
func distWorker(url, authkey string) error {
	fmt.Printf("Connect to server %s...\n", url)
	c, tasks, results, err := distQueues(url, authkey)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		n, err := tasks.Get(time.Second)
		if errors.Is(err, dist.ErrTimeout) {
			fmt.Println("task queue is empty.")
			break
		}
		if err != nil {
			return err
		}
		fmt.Printf("run task %d * %d... (pid %d)\n", n, n, os.Getpid())
		if err := results.PutTimeout(fmt.Sprintf("%d * %d = %d", n, n, n*n), 10*time.Second); err != nil {
			return err
		}
	}
	fmt.Println("worker exit.")
	return nil
}

// splitHostPort reads "host:port" ("" host: loopback; port 0: a free one).
func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("ipcdemo: -listen %q: %w", hp, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 {
		return "", 0, fmt.Errorf("ipcdemo: -listen %q: bad port", hp)
	}
	return host, port, nil
}

// distQueues connects to url with the authkey and opens the task and result queues (the
// seed's get_task_queue and get_result_queue).
func distQueues(url, authkey string) (*dist.Conn, *dist.Queue[int], *dist.Queue[string], error) {
	c, err := dist.Connect([]string{url}, dist.Options{Token: authkey})
	if err != nil {
		return nil, nil, nil, err
	}
	tasks, err := dist.NewQueue[int](c, "tasks", 0)
	if err == nil {
		var results *dist.Queue[string]
		if results, err = dist.NewQueue[string](c, "results", 0); err == nil {
			return c, tasks, results, nil
		}
	}
	c.Close()
	return nil, nil, nil, err
}
