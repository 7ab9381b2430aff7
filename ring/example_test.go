package ring_test

import (
	"fmt"
	"io"

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
	r, w, err := ring.Pipe(false)
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
