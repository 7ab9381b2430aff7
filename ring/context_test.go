package ring_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

// Every call that can block on another process has a Context form, which returns ctx.Err() when
// the context ends first.
func TestContextForms(t *testing.T) {
	q := newQueue(t, &ring.Options{Size: 1024, MaxMessages: 1})
	a, b, err := ring.Pipe(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Free()
	expiring := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	// On an empty queue and pipe.
	if _, err := q.PeekContext(expiring()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PeekContext: %v", err)
	}
	if _, err := q.GetAppendContext(cancelled, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetAppendContext: %v", err)
	}
	if ok, err := a.PollContext(expiring()); ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PollContext: %v %v", ok, err)
	}
	if ready, err := ring.WaitContext(expiring(), q, a); len(ready) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext: %v %v", ready, err)
	}
	// On a full queue and pipe.
	if err := q.Put([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ReserveContext(expiring(), 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReserveContext on a full queue: %v", err)
	}
	if n, err := q.PutBatchContext(expiring(), [][]byte{msg(0, 10), msg(1, 10)}); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutBatchContext on a full queue: %d, %v", n, err)
	}
	for {
		if err := a.SendTimeout(msg(0, 100), 0); errors.Is(err, ring.ErrTimeout) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SendContext(expiring(), msg(0, 100)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendContext on a full pipe: %v", err)
	}
	// And each returns at once when it can proceed.
	ctx := context.Background()
	if ready, err := ring.WaitContext(ctx, q, a, b); err != nil || len(ready) != 2 || ready[0] != q || ready[1] != b {
		t.Fatalf("WaitContext with two ready: %v %v", ready, err)
	}
	if ok, err := b.PollContext(ctx); !ok || err != nil {
		t.Fatalf("PollContext with a message: %v %v", ok, err)
	}
	m, err := q.PeekContext(ctx)
	if err != nil || string(m.Bytes()) != "x" {
		t.Fatalf("PeekContext: %v", err)
	}
	m.Release()
	w, err := q.ReserveContext(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Bytes()[0] = 'y'
	w.Commit()
	if got, err := q.GetAppendContext(ctx, []byte("x")); err != nil || string(got) != "xy" {
		t.Fatalf("GetAppendContext: %q %v", got, err)
	}
	if _, err := b.RecvContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.SendContext(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// A timeout names the call and the time it waited, and matches ErrTimeout.
func TestTimeoutNamesTheCall(t *testing.T) {
	q := newQueue(t, &ring.Options{MaxMessages: 1})
	c, w, err := ring.Pipe(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	defer w.Free()
	_, err = q.GetTimeout(5 * time.Millisecond)
	if !errors.Is(err, ring.ErrTimeout) || err.Error() != "ring: Get: timed out after 5ms" {
		t.Fatalf("GetTimeout: %v", err)
	}
	if _, err := q.PeekTimeout(0); !errors.Is(err, ring.ErrTimeout) || err.Error() != "ring: Peek: would block (timeout 0)" {
		t.Fatalf("PeekTimeout: %v", err)
	}
	if _, err := c.RecvTimeout(time.Millisecond); !errors.Is(err, ring.ErrTimeout) || err.Error() != "ring: Recv: timed out after 1ms" {
		t.Fatalf("RecvTimeout: %v", err)
	}
	if _, err := ring.Wait(time.Millisecond, q); !errors.Is(err, ring.ErrTimeout) || err.Error() != "ring: Wait: timed out after 1ms" {
		t.Fatalf("Wait: %v", err)
	}
	q.Put(nil)
	if err := q.PutTimeout(nil, time.Millisecond); !errors.Is(err, ring.ErrTimeout) || err.Error() != "ring: Put: timed out after 1ms" {
		t.Fatalf("PutTimeout: %v", err)
	}
	if ok, err := q.TryPut(nil); ok || err != nil {
		t.Fatalf("TryPut on a full queue: %v %v", ok, err)
	}
}

type sample struct {
	N    int64
	Half float64
}

var _ = proc.Register(echoSamples)

// echoSamples returns every sample it receives with N doubled, until the pipe is shut down.
func echoSamples(c *ring.ConnOf[sample]) error {
	for {
		s, err := c.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.N *= 2
		if err := c.Send(s); err != nil {
			return err
		}
	}
}

// A ConnOf crosses to a child as itself; typed queues and pipes are Waitable.
func TestConnOfAndWaitTyped(t *testing.T) {
	a, b, err := ring.PipeOf[sample](true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	defer b.Free()
	p := start(t, echoSamples, b)
	b.Close() // the parent's copy of the child's end
	q, err := ring.NewQueueOf[sample](nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	q2, err := ring.OpenQueueOf[sample](q.Ref())
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 10; i++ {
		if err := a.SendContext(context.Background(), sample{N: i, Half: float64(i) / 2}); err != nil {
			t.Fatal(err)
		}
		ready, err := ring.Wait(10*time.Second, q, a)
		if err != nil || len(ready) != 1 || ready[0] != a {
			t.Fatalf("Wait: %v %v", ready, err)
		}
		s, err := a.RecvTimeout(10 * time.Second)
		if err != nil || s != (sample{N: 2 * i, Half: float64(i) / 2}) {
			t.Fatalf("reply %d: %+v %v", i, s, err)
		}
	}
	if err := q2.Put(sample{N: 7}); err != nil {
		t.Fatal(err)
	}
	if ready, err := ring.Wait(0, q, a); err != nil || len(ready) != 1 || ready[0] != q {
		t.Fatalf("Wait on a typed queue: %v %v", ready, err)
	}
	if s, err := q.GetTimeout(0); err != nil || s.N != 7 {
		t.Fatalf("Get: %+v %v", s, err)
	}
	a.Shutdown()
	joinOK(t, p)
	if _, err := a.Recv(); err != io.EOF {
		t.Fatalf("Recv after Shutdown: %v", err)
	}
	if err := a.Send(sample{}); !errors.Is(err, ring.ErrConnClosed) {
		t.Fatalf("Send after Shutdown: %v", err)
	}
}
