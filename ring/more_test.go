package ring_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

type point struct {
	X, Y int64
	Ok   bool
}

type record struct {
	Name string
	Tags []string
}

func TestQueueOfRaw(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q, err := ring.NewQueueOf[point](&m.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Free()
			allocs := testing.AllocsPerRun(1000, func() {
				if err := q.Put(point{X: 1, Y: 2, Ok: true}); err != nil {
					t.Fatal(err)
				}
				if p, err := q.Get(); err != nil || p != (point{1, 2, true}) {
					t.Fatal(p, err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per Put+Get of a pointer-free value", allocs)
			}
		})
	}
}

func TestQueueOfCBOR(t *testing.T) {
	q, err := ring.NewQueueOf[record](nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	in := record{Name: "hello", Tags: []string{"a", "b"}}
	if err := q.PutTimeout(in, time.Second); err != nil {
		t.Fatal(err)
	}
	out, ok, err := q.TryGet()
	if err != nil || !ok || out.Name != in.Name || len(out.Tags) != 2 {
		t.Fatalf("%+v %v %v", out, ok, err)
	}
	// A message that is not a record is an error, not a panic, and is consumed.
	if err := q.Queue().Put([]byte{0xff, 0x01}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(); err == nil {
		t.Fatal("garbage decoded without error")
	}
	if !q.Empty() {
		t.Fatal("bad message not consumed")
	}
}

func TestReservePeek(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			for _, n := range []int{10, 100000} {
				w, err := q.Reserve(n)
				if err != nil {
					t.Fatal(err)
				}
				copy(w.Bytes(), msg(n, n))
				if err := w.Commit(); err != nil {
					t.Fatal(err)
				}
				// An aborted reservation is never seen.
				w, err = q.ReserveTimeout(n, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Abort(); err != nil {
					t.Fatal(err)
				}
				p, err := q.PeekTimeout(time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.Bytes(), msg(n, n)) {
					t.Fatal("peeked message differs")
				}
				if err := p.Release(); err != nil {
					t.Fatal(err)
				}
				if err := p.Release(); err == nil {
					t.Fatal("second Release accepted")
				}
				if _, err := q.GetTimeout(0); !errors.Is(err, ring.ErrTimeout) {
					t.Fatalf("aborted message delivered? %v", err)
				}
			}
		})
	}
}

func TestGetContext(t *testing.T) {
	q := newQueue(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := q.GetContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetContext: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := q.PutContext(ctx, nil); !errors.Is(err, context.Canceled) && err != nil {
		t.Fatalf("PutContext: %v", err)
	}
}

func TestJoinableQueue(t *testing.T) {
	q, err := ring.NewJoinableQueue(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	for i := 0; i < 5; i++ {
		if err := q.Put([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.JoinTimeout(20 * time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
		t.Fatalf("Join with 5 unfinished: %v", err)
	}
	p := start(t, workJoinable, q)
	if err := q.JoinTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	joinOK(t, p)
	if err := q.TaskDone(); !errors.Is(err, ring.ErrTaskDone) {
		t.Fatalf("extra TaskDone: %v", err)
	}
}

var _ = proc.Register(workJoinable)

func workJoinable(q *ring.JoinableQueue) error {
	for i := 0; i < 5; i++ {
		if _, err := q.Get(); err != nil {
			return err
		}
		if err := q.TaskDone(); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ = proc.Register(pipeChild)
	_ = proc.Register(pipeEcho)
)

func pipeChild(c *ring.Conn) error {
	if err := ring.Send(c, []any{42, nil, "hello"}); err != nil {
		return err
	}
	return c.Shutdown()
}

func pipeEcho(c *ring.Conn) error {
	for {
		b, err := c.Recv()
		if err == io.EOF {
			return c.Close()
		}
		if err != nil {
			return err
		}
		if err := c.Send(append([]byte("re: "), b...)); err != nil {
			return err
		}
	}
}

func TestPipe(t *testing.T) {
	r, w, err := ring.Pipe(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	defer w.Free()
	if err := r.Send(nil); err == nil {
		t.Fatal("send on the receiving end of a one-way pipe")
	}
	p := start(t, pipeChild, w)
	v, err := ring.Recv[[]any](r)
	if err != nil || len(v) != 3 || v[2] != "hello" || v[1] != nil {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := r.Recv(); err != io.EOF {
		t.Fatalf("Recv after the other end shut the pipe down: %v", err)
	}
	joinOK(t, p)
}

func TestPipeDuplex(t *testing.T) {
	a, b, err := ring.Pipe(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Free()
	p := start(t, pipeEcho, b)
	for i := 0; i < 100; i++ {
		if err := a.Send(msg(i, i)); err != nil {
			t.Fatal(err)
		}
		ok, err := a.Poll(10 * time.Second)
		if err != nil || !ok {
			t.Fatalf("Poll: %v %v", ok, err)
		}
		got, err := a.Recv()
		if err != nil || !bytes.Equal(got, append([]byte("re: "), msg(i, i)...)) {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
	if ok, err := a.Poll(0); ok || err != nil {
		t.Fatalf("Poll with nothing sent: %v %v", ok, err)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	joinOK(t, p)
	if _, err := a.Recv(); err != io.EOF {
		t.Fatalf("Recv on a pipe shut down: %v", err)
	}
	if err := a.Send(nil); !errors.Is(err, ring.ErrConnClosed) || !errors.Is(err, ring.ErrShutdown) {
		t.Fatalf("Send on a pipe shut down: %v", err)
	}
	a.Close()
	if _, err := a.Recv(); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv on a closed handle: %v", err)
	}
}

func TestWait(t *testing.T) {
	q1, q2 := newQueue(t, nil), newQueue(t, nil)
	a, b, err := ring.Pipe(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Free()
	if ready, err := ring.Wait(20*time.Millisecond, q1, q2, a); len(ready) != 0 || !errors.Is(err, ring.ErrTimeout) {
		t.Fatalf("Wait on nothing ready: %v %v", ready, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		q2.Put([]byte("x"))
	}()
	ready, err := ring.Wait(ring.Forever, q1, q2, a)
	if err != nil || len(ready) != 1 || ready[0] != q2 {
		t.Fatalf("Wait: %v %v", ready, err)
	}
	b.Send([]byte("y"))
	ready, err = ring.Wait(time.Second, q1, q2, a)
	if err != nil || len(ready) != 2 {
		t.Fatalf("Wait with two ready: %v %v", ready, err)
	}
	// A process sentinel.
	p := start(t, sleepBriefly)
	ready, err = ring.Wait(10*time.Second, q1, ring.Ended(p))
	if err != nil || len(ready) != 1 || ready[0] != ring.Ended(p) {
		t.Fatalf("Wait on a process: %v %v", ready, err)
	}
	joinOK(t, p)
	if _, err := ring.Wait(time.Second, nil); err == nil {
		t.Fatal("Wait on nil")
	}
	if _, err := ring.Wait(time.Second, ring.Ended(nil)); err == nil {
		t.Fatal("Wait on Ended(nil)")
	}
}

var _ = proc.Register(sleepBriefly)

func sleepBriefly() { time.Sleep(50 * time.Millisecond) }

// Shutdown wakes producers blocked on a full queue, in every mode; Len, Empty and Full agree.
func TestShutdownWakesPut(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			opts.Size = 1024
			q := newQueue(t, &opts)
			n := 0
			for {
				ok, err := q.TryPut(msg(n, 40))
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				n++
			}
			for { // the room left may still take empty messages
				ok, err := q.TryPut(nil)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				n++
			}
			if !q.Full() || q.Empty() || q.Len() != n {
				t.Fatalf("after %d puts: Full %v Empty %v Len %d", n, q.Full(), q.Empty(), q.Len())
			}
			errc := make(chan error, 1)
			go func() { errc <- q.Put(msg(0, 40)) }()
			time.Sleep(30 * time.Millisecond)
			q.Shutdown()
			if err := <-errc; !errors.Is(err, ring.ErrShutdown) {
				t.Fatalf("blocked Put after Shutdown: %v", err)
			}
			for i := 0; i < n; i++ {
				if _, err := q.Get(); err != nil {
					t.Fatalf("Get %d of %d after Shutdown: %v", i, n, err)
				}
			}
			if _, err := q.Get(); !errors.Is(err, ring.ErrShutdown) {
				t.Fatalf("Get on an empty queue shut down: %v", err)
			}
		})
	}
}

var _ = proc.Register(putAfter)

func putAfter(q *ring.Queue, d time.Duration) error {
	time.Sleep(d)
	return q.Put([]byte("late"))
}

// Wait wakes for a message put by another process.
func TestWaitAcrossProcesses(t *testing.T) {
	q1, q2 := newQueue(t, nil), newQueue(t, nil)
	p := start(t, putAfter, q2, 50*time.Millisecond)
	ready, err := ring.Wait(10*time.Second, q1, q2)
	if err != nil || len(ready) != 1 || ready[0] != q2 {
		t.Fatalf("Wait: %v %v", ready, err)
	}
	joinOK(t, p)
}

// A producer that dies after it published a record and before it moved tail leaves tail behind
// a published record: the next producer must go past it, not write over it, and the consumer
// must deliver it once. The death is simulated by moving tail back over a published record.
func TestTailBehindPublished(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			ref := q.Ref()
			_, b, err := shm.Resolve(ref, ref.Kind)
			if err != nil {
				t.Fatal(err)
			}
			tail := shm.Word64(b, offTail)
			for i := 0; i < 3; i++ {
				if err := q.Put(msg(i, 10+i)); err != nil {
					t.Fatal(err)
				}
			}
			before := atomic.LoadUint64(tail)
			if err := q.Put(msg(3, 13)); err != nil {
				t.Fatal(err)
			}
			// As if the producer of message 3 died just now, and another process takes over
			// producing (the owner word no longer names this one, so it reads tail again).
			atomic.StoreUint64(tail, before)
			atomic.StoreUint32(shm.Word32(b, offOwner), 0)
			if n := q.Len(); n != 4 || q.Empty() {
				t.Fatalf("Len %d Empty %v with tail behind the last record, want 4 and false", n, q.Empty())
			}
			for i := 4; i < 6; i++ {
				if err := q.Put(msg(i, 10+i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 6; i++ {
				got, err := q.GetTimeout(time.Second)
				if err != nil {
					t.Fatalf("Get %d: %v", i, err)
				}
				if want := msg(i, 10+i); !bytes.Equal(got, want) {
					t.Fatalf("message %d = %q, want %q", i, got, want)
				}
			}
			if _, ok, err := q.TryGet(); ok || err != nil {
				t.Fatalf("a seventh message: %v %v", ok, err)
			}
		})
	}
}

// A Put waiting for heap space for a spilled message (the heap full of this queue's messages)
// returns ErrShutdown when the queue is shut down, instead of retrying for ever.
func TestShutdownWakesSpillWait(t *testing.T) {
	q := newPrivateQueue(t, &ring.Options{Size: 4096})
	big := make([]byte, 200<<10)
	n := 0
	for ; n < 10; n++ {
		if err := q.PutTimeout(big, 100*time.Millisecond); errors.Is(err, ring.ErrTimeout) {
			break // the heap is full of spilled messages
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 || n == 10 {
		t.Fatalf("%d spilled messages fit in a 1 MiB heap", n)
	}
	ring.ClearProducerWaits(q) // the PutTimeout that timed out above left it raised
	errc := make(chan error, 1)
	go func() { errc <- q.Put(big) }()
	// Shut down once the Put is parked in the wait for heap space (it raises the producers'
	// sleep flag just before it sleeps), so that Shutdown meets the wait, not the first attempt.
	for start := time.Now(); !ring.ProducerWaits(q); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("Put of a message the full heap cannot hold never waited")
		}
	}
	q.Shutdown()
	select {
	case err := <-errc:
		if !errors.Is(err, ring.ErrShutdown) {
			t.Fatalf("Put waiting for heap space, after Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Put waiting for heap space did not return after Shutdown")
	}
	for i := 0; i < n; i++ {
		if b, err := q.Get(); err != nil || len(b) != len(big) {
			t.Fatalf("Get %d: %d bytes, %v", i, len(b), err)
		}
	}
}
