package ring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

// greet runs in a child process: it puts a message on the queue it was given.
func greet(q *ring.QueueOf[[]any]) error {
	return q.Put([]any{42, nil, "hello"})
}

var _ = proc.Register(greet)

// A child process puts a value on a queue; the parent gets it.
func ExampleQueue() {
	q, err := ring.NewQueueOf[[]any](nil)
	if err != nil {
		panic(err)
	}
	defer q.Free()
	p, err := proc.Start(greet, q)
	if err != nil {
		panic(err)
	}
	v, err := q.Get()
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	p.Join(-1)
	// Output: [42 <nil> hello]
}

// Raw values travel by copy, without allocation.
func ExampleQueueOf() {
	type sample struct {
		T     int64
		Value float64
	}
	q, err := ring.NewQueueOf[sample](&ring.Options{SingleProducer: true, SingleConsumer: true})
	if err != nil {
		panic(err)
	}
	defer q.Free()
	for i := 0; i < 3; i++ {
		q.Put(sample{T: int64(i), Value: float64(i) / 2})
	}
	for !q.Empty() {
		s, _ := q.Get()
		fmt.Println(s.T, s.Value)
	}
	// Output:
	// 0 0
	// 1 0.5
	// 2 1
}

// Both ends of a pipe; the receiver sees io.EOF once the sender has shut the pipe down.
func ExamplePipe() {
	r, w, err := ring.Pipe(false, nil)
	if err != nil {
		panic(err)
	}
	defer r.Free()
	defer w.Free()
	w.Send([]byte("one"))
	w.Send([]byte("two"))
	w.Shutdown()
	for {
		b, err := r.Recv()
		if err == io.EOF {
			fmt.Println("EOF")
			break
		}
		fmt.Println(string(b))
	}
	// Output:
	// one
	// two
	// EOF
}

// upper runs in a child process: it answers each message in upper case until the pipe is shut
// down.
func upper(c *ring.Conn) error {
	for {
		b, err := c.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.Send(bytes.ToUpper(b)); err != nil {
			return err
		}
	}
}

var _ = proc.Register(upper)

// Python's idiom: after starting the child, the parent closes its copy of the child's end. Close
// is local, so the child's end keeps working; Shutdown ends the pipe for both.
func ExampleConn_Close() {
	parentEnd, childEnd, err := ring.Pipe(true, nil)
	if err != nil {
		panic(err)
	}
	defer parentEnd.Free()
	defer childEnd.Free()
	p, err := proc.Start(upper, childEnd)
	if err != nil {
		panic(err)
	}
	childEnd.Close() // this process will not use the child's end
	parentEnd.Send([]byte("hello"))
	b, _ := parentEnd.Recv()
	fmt.Println(string(b))
	parentEnd.Shutdown() // the child's Recv returns io.EOF
	p.Join(ring.Forever)
	code, _ := p.ExitCode()
	fmt.Println("child exit code", code)
	// Output:
	// HELLO
	// child exit code 0
}

// Shutdown ends a queue for every process: Get returns what is left, then ErrShutdown.
func ExampleQueue_Shutdown() {
	q, err := ring.NewQueue(nil)
	if err != nil {
		panic(err)
	}
	defer q.Free()
	q.Put([]byte("last"))
	q.Shutdown()
	fmt.Println(q.Put([]byte("more")))
	b, err := q.Get()
	fmt.Println(string(b), err)
	_, err = q.Get()
	fmt.Println(err, errors.Is(err, ring.ErrShutdown))
	// Output:
	// ring: queue shut down
	// last <nil>
	// ring: queue shut down true
}

// WaitContext waits on queues, pipes and processes until one is ready or the context ends.
func ExampleWaitContext() {
	jobs, err := ring.NewQueueOf[int](nil)
	if err != nil {
		panic(err)
	}
	defer jobs.Free()
	r, w, err := ring.PipeOf[string](false, nil)
	if err != nil {
		panic(err)
	}
	defer r.Free()
	defer w.Free()
	w.Send("ping")
	ready, err := ring.WaitContext(context.Background(), jobs, r)
	fmt.Println(len(ready), ready[0] == r, err)
	s, _ := r.Recv()
	fmt.Println(s)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = ring.WaitContext(ctx, jobs, r)
	fmt.Println(err)
	// Output:
	// 1 true <nil>
	// ping
	// context deadline exceeded
}

// job is what the JoinableQueue example's workers are given.
type job struct{ N, Square int }

// squareJobs runs in each worker process: it takes jobs until the queue is shut down, sends each
// answer back, and marks the job done.
func squareJobs(jobs *ring.JoinableQueueOf[job], results *ring.QueueOf[job]) error {
	for {
		j, err := jobs.Get()
		if errors.Is(err, ring.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		j.Square = j.N * j.N
		if err := results.Put(j); err != nil {
			return err
		}
		if err := jobs.TaskDone(); err != nil {
			return err
		}
	}
}

var _ = proc.Register(squareJobs)

// Python's JoinableQueue: workers in two processes take jobs and call TaskDone; the parent's Join
// returns once every job is done.
func ExampleJoinableQueueOf() {
	jobs, err := ring.NewJoinableQueueOf[job](nil)
	if err != nil {
		panic(err)
	}
	defer jobs.Free()
	results, err := ring.NewQueueOf[job](nil)
	if err != nil {
		panic(err)
	}
	defer results.Free()
	var workers []*proc.Process
	for range 2 {
		p, err := proc.Start(squareJobs, jobs, results)
		if err != nil {
			panic(err)
		}
		workers = append(workers, p)
	}
	for n := 1; n <= 10; n++ {
		if err := jobs.Put(job{N: n}); err != nil {
			panic(err)
		}
	}
	if err := jobs.Join(); err != nil { // every job taken and marked done
		panic(err)
	}
	sum := 0
	for range 10 {
		r, err := results.Get()
		if err != nil {
			panic(err)
		}
		sum += r.Square
	}
	jobs.Shutdown() // the workers' Get returns ErrShutdown: they return
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			panic(err)
		}
	}
	fmt.Println(sum, jobs.Unfinished())
	// Output: 385 0
}
