package ring

import (
	"context"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// A ConnOf is a Conn that carries values of type T, encoded as QueueOf[T] encodes them (raw
// memory for pointer-free T, CBOR otherwise). It is a view of a Conn handle: Close, Shutdown,
// ordering and peer death are the Conn's. Pass it to a child as itself (a target's
// *ring.ConnOf[T] parameter: proc rebuilds it with AttachRef). Both ends must use the same T.
type ConnOf[T any] struct {
	c          *Conn
	send, recv *QueueOf[T] // nil for the side a one-way end lacks
}

// PipeOf returns the two ends of a pipe of T values; see Pipe.
func PipeOf[T any](duplex bool, opts *Options) (*ConnOf[T], *ConnOf[T], error) {
	a, b, err := Pipe(duplex, opts)
	if err != nil {
		return nil, nil, err
	}
	return AsConnOf[T](a), AsConnOf[T](b), nil
}

// AsConnOf returns the view of c as a connection carrying values of type T.
func AsConnOf[T any](c *Conn) *ConnOf[T] {
	t := &ConnOf[T]{c: c}
	if c.send != nil {
		t.send = AsQueueOf[T](c.send)
	}
	if c.recv != nil {
		t.recv = AsQueueOf[T](c.recv)
	}
	return t
}

// AttachRef makes the zero ConnOf t a view of the end that ref names (as OpenConn followed by
// AsConnOf): how package proc rebuilds a child's *ConnOf[T] parameter.
func (t *ConnOf[T]) AttachRef(ref shm.Ref) error {
	c, err := OpenConn(ref)
	if err != nil {
		return err
	}
	*t = *AsConnOf[T](c)
	return nil
}

// Conn returns the underlying byte Conn.
func (t *ConnOf[T]) Conn() *Conn { return t.c }

// Ref returns the Ref by which another process opens this end.
func (t *ConnOf[T]) Ref() shm.Ref { return t.c.Ref() }

// Close closes this handle; see Conn.Close.
func (t *ConnOf[T]) Close() error { return t.c.Close() }

// Closed reports whether this handle was closed.
func (t *ConnOf[T]) Closed() bool { return t.c.Closed() }

// Shutdown ends the pipe for both ends in every process; see Conn.Shutdown.
func (t *ConnOf[T]) Shutdown() error { return t.c.Shutdown() }

// Free frees this end; see Conn.Free.
func (t *ConnOf[T]) Free() error { return t.c.Free() }

// Send sends v to the other end, waiting while the ring is full; ErrConnClosed once the pipe was
// shut down.
func (t *ConnOf[T]) Send(v T) error { return t.send1(forever, v) }

// SendTimeout is Send waiting at most d; an error matching ErrTimeout when the ring stayed full.
func (t *ConnOf[T]) SendTimeout(v T, d time.Duration) error {
	dl, err := newDeadline(d)
	if err != nil {
		return err
	}
	return timeoutErr("ring: Send", d, t.send1(dl, v))
}

// SendContext is Send waiting until ctx is done; it then returns ctx.Err().
func (t *ConnOf[T]) SendContext(ctx context.Context, v T) error {
	return t.send1(contextBound(ctx), v)
}

func (t *ConnOf[T]) send1(dl deadline, v T) error {
	if err := t.c.check(t.c.send, "send"); err != nil {
		return err
	}
	return sendErr(t.send.put(dl, v))
}

// Recv returns the next value, waiting for one; io.EOF once the pipe was shut down and
// everything sent has been received. A message that does not decode as T is an error (and is
// consumed).
func (t *ConnOf[T]) Recv() (T, error) { return t.recv1(forever) }

// RecvTimeout is Recv waiting at most d; an error matching ErrTimeout when nothing came.
func (t *ConnOf[T]) RecvTimeout(d time.Duration) (T, error) {
	dl, err := newDeadline(d)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := t.recv1(dl)
	return v, timeoutErr("ring: Recv", d, err)
}

// RecvContext is Recv waiting until ctx is done; it then returns ctx.Err().
func (t *ConnOf[T]) RecvContext(ctx context.Context) (T, error) {
	return t.recv1(contextBound(ctx))
}

func (t *ConnOf[T]) recv1(dl deadline) (T, error) {
	if err := t.c.check(t.c.recv, "receive"); err != nil {
		var zero T
		return zero, err
	}
	v, err := t.recv.get(dl)
	return v, recvErr(err)
}

// Poll reports whether Recv would return at once, waiting at most d; see Conn.Poll.
func (t *ConnOf[T]) Poll(d time.Duration) (bool, error) { return t.c.Poll(d) }

// PollContext is Poll waiting until ctx is done; see Conn.PollContext.
func (t *ConnOf[T]) PollContext(ctx context.Context) (bool, error) { return t.c.PollContext(ctx) }

func (t *ConnOf[T]) waitQueue() (*Queue, error) { return t.c.waitQueue() }
