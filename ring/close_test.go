package ring_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

var _ = proc.Register(sendThree)

// sendThree sends three messages on c and returns; it does not shut the pipe down.
func sendThree(c *ring.Conn) error {
	for i := 0; i < 3; i++ {
		if err := c.Send(msg(i, 10)); err != nil {
			return err
		}
	}
	return c.Close()
}

// Python's idiom: the parent makes a Pipe, starts a child with one end and closes its own copy
// of that end. The child's end keeps working, both ways, and so does the parent's.
func TestPipeCloseChildEndInParent(t *testing.T) {
	parent, child, err := ring.Pipe(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Free()
	defer child.Free()
	p := start(t, pipeEcho, child)
	if err := child.Close(); err != nil {
		t.Fatal(err)
	}
	if err := child.Send(nil); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Send on the closed copy: %v", err)
	}
	if _, err := child.Recv(); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Recv on the closed copy: %v", err)
	}
	if err := child.Shutdown(); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Shutdown on the closed copy: %v", err)
	}
	for i := 0; i < 20; i++ {
		if err := parent.Send(msg(i, i)); err != nil {
			t.Fatal(err)
		}
		got, err := parent.RecvTimeout(10 * time.Second)
		if err != nil || !bytes.Equal(got, append([]byte("re: "), msg(i, i)...)) {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
	// The child ends when the pipe is shut down, not when a handle is closed.
	if err := parent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	joinOK(t, p)

	// One way: the child sends on the end the parent closed.
	r, w, err := ring.Pipe(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	defer w.Free()
	p = start(t, sendThree, w)
	w.Close()
	for i := 0; i < 3; i++ {
		got, err := r.RecvTimeout(10 * time.Second)
		if err != nil || !bytes.Equal(got, msg(i, 10)) {
			t.Fatalf("message %d: %q %v", i, got, err)
		}
	}
	joinOK(t, p)
	if ok, err := r.Poll(0); ok || err != nil {
		t.Fatalf("Poll after the child closed its handle: %v %v (a Close is no end of the pipe)", ok, err)
	}
}

// A Queue's Close ends that handle only: the queue goes on for other handles and processes,
// calls on the handle fail with ErrClosed, and a Get blocked in it wakes.
func TestQueueCloseIsLocal(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			other, err := ring.OpenQueue(q.Ref())
			if err != nil {
				t.Fatal(err)
			}
			// A Get blocked in the handle that is closed.
			errc := make(chan error, 1)
			go func() { _, err := q.Get(); errc <- err }()
			time.Sleep(20 * time.Millisecond)
			p := start(t, produce, q, 5, 50)
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Get blocked in the handle when it was closed: %v", err)
			}
			for i := 0; i < 50; i++ {
				b, err := other.GetTimeout(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if id, seq, err := decode(b); err != nil || id != 5 || seq != uint64(i) {
					t.Fatalf("message %d: producer %d seq %d %v", i, id, seq, err)
				}
			}
			joinOK(t, p)
			if !q.Closed() || other.Closed() || q.IsShutdown() {
				t.Fatalf("Closed %v, other handle Closed %v, IsShutdown %v", q.Closed(), other.Closed(), q.IsShutdown())
			}
			if err := q.Put(nil); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Put on a closed handle: %v", err)
			}
			if _, err := q.Reserve(1); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Reserve on a closed handle: %v", err)
			}
			if err := other.Put([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := q.GetTimeout(0); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Get on a closed handle: %v", err)
			}
			if _, err := q.GetAppend(nil); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("GetAppend on a closed handle: %v", err)
			}
			if _, err := q.PeekTimeout(0); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Peek on a closed handle: %v", err)
			}
			if _, err := ring.Wait(0, q); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Wait on a closed handle: %v", err)
			}
			if q.Len() != 1 || q.Empty() {
				t.Fatalf("snapshots on a closed handle: Len %d Empty %v", q.Len(), q.Empty())
			}
			if err := q.Shutdown(); !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Shutdown on a closed handle: %v", err)
			}
			if err := q.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if b, err := other.GetTimeout(0); err != nil || string(b) != "x" {
				t.Fatalf("other handle: %q %v", b, err)
			}
		})
	}
}

// A JoinableQueue's and a QueueOf's Close are their handle's too.
func TestCloseJoinableAndTyped(t *testing.T) {
	j, err := ring.NewJoinableQueue(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Free()
	if err := j.Put([]byte("task")); err != nil {
		t.Fatal(err)
	}
	other, err := ring.OpenJoinableQueue(j.Ref())
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan error, 1)
	go func() { joined <- j.Join() }()
	time.Sleep(20 * time.Millisecond)
	j.Close()
	if err := <-joined; !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Join blocked in the handle when it was closed: %v", err)
	}
	if err := j.TaskDone(); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("TaskDone on a closed handle: %v", err)
	}
	if _, err := other.Get(); err != nil {
		t.Fatal(err)
	}
	if err := other.TaskDone(); err != nil {
		t.Fatal(err)
	}
	if err := other.JoinTimeout(0); err != nil {
		t.Fatal(err)
	}

	q, err := ring.NewQueueOf[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	view := ring.AsQueueOf[int](q.Queue())
	if err := q.Close(); err != nil || !q.Closed() || !view.Closed() || q.IsShutdown() {
		t.Fatalf("Close: %v; Closed %v, the view's %v; IsShutdown %v", err, q.Closed(), view.Closed(), q.IsShutdown())
	}
	if err := q.Put(1); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Put on a closed QueueOf: %v", err)
	}
	if _, err := q.GetTimeout(0); !errors.Is(err, ring.ErrClosed) {
		t.Fatalf("Get on a closed QueueOf: %v", err)
	}
}

// Shutdown ends a QueueOf for every handle; io.EOF is how a Conn reports it.
func TestShutdownTypedAndConn(t *testing.T) {
	q, err := ring.NewQueueOf[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	if err := q.Put(7); err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(); err != nil || !q.IsShutdown() || q.Closed() {
		t.Fatalf("Shutdown: %v; IsShutdown %v Closed %v", err, q.IsShutdown(), q.Closed())
	}
	if err := q.Put(8); !errors.Is(err, ring.ErrShutdown) {
		t.Fatalf("Put after Shutdown: %v", err)
	}
	if v, err := q.Get(); v != 7 || err != nil {
		t.Fatalf("Get of what was left: %v %v", v, err)
	}
	if _, err := q.Get(); !errors.Is(err, ring.ErrShutdown) {
		t.Fatalf("Get on an empty queue shut down: %v", err)
	}
	a, b, err := ring.Pipe(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Free()
	if err := a.Send([]byte("last")); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	if got, err := b.Recv(); err != nil || string(got) != "last" {
		t.Fatalf("Recv of what was sent before the shutdown: %q %v", got, err)
	}
	if got, err := b.Recv(); err != io.EOF {
		t.Fatalf("Recv on the end that shut down: %q %v", got, err)
	}
	if got, err := a.Recv(); err != io.EOF {
		t.Fatalf("Recv on the other end: %q %v", got, err)
	}
}

// Two handles on one queue in one process, a Get blocked in each: closing one handle ends its
// Get, even while the other handle's Get holds the process's turn to wait; the other goes on.
func TestCloseOneOfTwoHandles(t *testing.T) {
	for _, withCtx := range []bool{false, true} {
		q := newQueue(t, nil)
		h, err := ring.OpenQueue(q.Ref())
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() { _, err := q.Get(); got <- err }()
		time.Sleep(20 * time.Millisecond) // q's Get takes the turn and parks
		closed := make(chan error, 1)
		go func() {
			var err error
			if withCtx {
				_, err = h.GetContext(context.Background())
			} else {
				_, err = h.Get()
			}
			closed <- err
		}()
		time.Sleep(20 * time.Millisecond) // h's Get waits for the turn
		h.Close()
		select {
		case err := <-closed:
			if !errors.Is(err, ring.ErrClosed) {
				t.Fatalf("Get in the closed handle: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Get waiting for its turn did not end when its handle was closed")
		}
		if err := h.Put(nil); !errors.Is(err, ring.ErrClosed) {
			t.Fatal(err)
		}
		if err := q.Put([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("Get in the other handle: %v", err)
		}
	}
}
