package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

func init() {
	register(20, "queue", "message passing with Queue and JoinableQueue", runQueue)
}

// Targets of the queue demo, run in child processes.
var (
	_ = proc.Register(queuePutList)
	_ = proc.Register(queueWriter)
	_ = proc.Register(queueReader)
	_ = proc.Register(queueDrain)
	_ = proc.Register(queueWorker)
)

// ringRepr formats a value as Python would print it: [42, None, 'hello'].
func ringRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "'" + v + "'"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case []any:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = ringRepr(x)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case map[any]any:
		var s []string
		for k, x := range v {
			s = append(s, ringRepr(k)+": "+ringRepr(x))
		}
		sort.Strings(s)
		return "{" + strings.Join(s, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func queuePutList(q *ring.QueueOf[[]any]) error {
	return q.Put([]any{42, nil, "hello"})
}

func queueWriter(q *ring.Queue) error {
	fmt.Printf("Process to write: %d\n", os.Getpid())
	for _, v := range []string{"A", "B", "C"} {
		fmt.Printf("Put %s to queue...\n", v)
		if err := q.Put([]byte(v)); err != nil {
			return err
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
	}
	return nil
}

func queueReader(q *ring.Queue) error {
	fmt.Printf("Process to read: %d\n", os.Getpid())
	for {
		v, err := q.Get()
		if err != nil {
			return err
		}
		fmt.Printf("Get %s from queue.\n", v)
	}
}

func queueDrain(q *ring.Queue) error {
	for !q.Empty() {
		v, err := q.Get()
		if err != nil {
			return err
		}
		fmt.Printf("reader got %s\n", v)
	}
	return q.Put([]byte("Done!"))
}

// queueWorker works until the queue is shut down.
func queueWorker(q *ring.JoinableQueue) error {
	for {
		v, err := q.Get()
		if errors.Is(err, ring.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Printf("Working on %s\n", v)
		time.Sleep(10 * time.Millisecond)
		fmt.Printf("Finished %s\n", v)
		if err := q.TaskDone(); err != nil {
			return err
		}
	}
}

func runQueue() error {
	// 1. A child puts a list; the parent prints what it gets.
	q, err := ring.NewQueueOf[[]any](nil)
	if err != nil {
		return err
	}
	defer q.Free()
	p, err := proc.Start(queuePutList, q)
	if err != nil {
		return err
	}
	v, err := q.GetTimeout(10 * time.Second)
	if err != nil {
		return err
	}
	fmt.Println(ringRepr(v))
	if err := p.WaitTimeout(10 * time.Second); err != nil {
		return err
	}

	// 2. A writer and a reader process.
	fmt.Println()
	wq, err := ring.NewQueue(nil)
	if err != nil {
		return err
	}
	defer wq.Free()
	pw, err := proc.Start(queueWriter, wq)
	if err != nil {
		return err
	}
	pr, err := proc.Start(queueReader, wq)
	if err != nil {
		return err
	}
	if err := pw.WaitTimeout(10 * time.Second); err != nil {
		return err
	}
	// The reader loops forever: wait until it has taken everything, then terminate it.
	for !wq.Empty() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let it print the last line
	pr.Terminate()
	pr.Join(proc.Forever)

	// 3. A reader that drains the queue until it is empty, then answers "Done!".
	fmt.Println()
	dq, err := ring.NewQueue(nil)
	if err != nil {
		return err
	}
	defer dq.Free()
	for i := 0; i < 3; i++ {
		if err := dq.Put([]byte("item " + strconv.Itoa(i))); err != nil {
			return err
		}
	}
	pd, err := proc.Start(queueDrain, dq)
	if err != nil {
		return err
	}
	if err := pd.WaitTimeout(10 * time.Second); err != nil {
		return err
	}
	done, err := dq.GetTimeout(time.Second)
	if err != nil {
		return err
	}
	fmt.Println(string(done))

	// 4. JoinableQueue: a worker marks each task done; Join returns when all are.
	fmt.Println()
	jq, err := ring.NewJoinableQueue(nil)
	if err != nil {
		return err
	}
	defer jq.Free()
	pj, err := proc.Start(queueWorker, jq)
	if err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := jq.Put([]byte("task " + strconv.Itoa(i))); err != nil {
			return err
		}
	}
	if err := jq.JoinTimeout(10 * time.Second); err != nil {
		return err
	}
	fmt.Println("All work completed")
	// Shutdown ends the queue for every process, so the worker's Get returns ErrShutdown (as
	// Python 3.13's queue.Queue.shutdown); Close would end only this process's handle.
	jq.Shutdown()
	return pj.WaitTimeout(10 * time.Second)
}
