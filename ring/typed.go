package ring

import (
	"context"
	"sync"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/shm"
)

// A QueueOf is a Queue of values of type T. Pointer-free T (numbers, bools, arrays and structs of
// those) travel as their raw memory: Put copies the value into the ring and Get copies it out,
// with no allocation. Any other T is encoded as CBOR (with limits on size and depth, since it
// comes from another process): see docs/ring.md for why CBOR.
//
// A QueueOf is a view of a Queue handle: pass it to another process as itself (a target's
// *ring.QueueOf[T] parameter), or pass Queue() and make the view there with AsQueueOf. Ordering,
// blocking, Close, Shutdown and peer-death behaviour are the Queue's; a view shares its Queue
// handle, so closing one closes the other.
type QueueOf[T any] struct {
	q       *Queue
	c       *codec.Codec[T]
	scratch *sync.Pool // of *T: the codec takes pointers, and a pooled one keeps Put and Get free of allocation
}

// NewQueueOf creates a queue of T in the default heap, or in opts.Heap; opts may be nil.
func NewQueueOf[T any](opts *Options) (*QueueOf[T], error) {
	q, err := NewQueue(opts)
	if err != nil {
		return nil, err
	}
	return AsQueueOf[T](q), nil
}

// AsQueueOf returns the view of q as a queue of T. Every process must use the same T for one
// queue; a message that does not decode as T makes Get fail (it is consumed).
func AsQueueOf[T any](q *Queue) *QueueOf[T] {
	return &QueueOf[T]{q: q, c: codec.For[T](), scratch: &sync.Pool{New: func() any { return new(T) }}}
}

// OpenQueueOf returns a handle on the queue that ref names, as a queue of T (OpenQueue followed
// by AsQueueOf).
func OpenQueueOf[T any](ref shm.Ref) (*QueueOf[T], error) {
	q, err := OpenQueue(ref)
	if err != nil {
		return nil, err
	}
	return AsQueueOf[T](q), nil
}

// AttachRef makes the zero QueueOf t a view, as a queue of T, of the queue ref names (as
// OpenQueue followed by AsQueueOf). It is how package proc rebuilds a child's *QueueOf[T]
// parameter: a QueueOf passes to a child as itself.
func (t *QueueOf[T]) AttachRef(ref shm.Ref) error {
	q, err := OpenQueueOf[T](ref)
	if err != nil {
		return err
	}
	*t = *q
	return nil
}

// Queue returns the underlying byte queue.
func (t *QueueOf[T]) Queue() *Queue { return t.q }

// Ref returns the Ref of the underlying queue.
func (t *QueueOf[T]) Ref() shm.Ref { return t.q.Ref() }

// Free frees the underlying queue; see Queue.Free.
func (t *QueueOf[T]) Free() error { return t.q.Free() }

// Close closes this handle (the underlying Queue handle); see Queue.Close.
func (t *QueueOf[T]) Close() error { return t.q.Close() }

// Closed reports whether this handle was closed.
func (t *QueueOf[T]) Closed() bool { return t.q.Closed() }

// Shutdown shuts the queue down for every process; see Queue.Shutdown.
func (t *QueueOf[T]) Shutdown() error { return t.q.Shutdown() }

// IsShutdown reports whether the queue was shut down.
func (t *QueueOf[T]) IsShutdown() bool { return t.q.IsShutdown() }

// Len returns the underlying queue's Len.
func (t *QueueOf[T]) Len() int { return t.q.Len() }

// Empty returns the underlying queue's Empty.
func (t *QueueOf[T]) Empty() bool { return t.q.Empty() }

// Full returns the underlying queue's Full.
func (t *QueueOf[T]) Full() bool { return t.q.Full() }

// Put appends v, waiting while the queue is full.
func (t *QueueOf[T]) Put(v T) error { return t.put(forever, v) }

// PutTimeout is Put waiting at most d.
func (t *QueueOf[T]) PutTimeout(v T, d time.Duration) error {
	dl, err := newDeadline(d)
	if err != nil {
		return err
	}
	return timeoutErr("ring: Put", d, t.put(dl, v))
}

// PutContext is Put waiting until ctx is done.
func (t *QueueOf[T]) PutContext(ctx context.Context, v T) error {
	return t.put(contextBound(ctx), v)
}

// TryPut puts v if there is room now.
func (t *QueueOf[T]) TryPut(v T) (bool, error) {
	err := t.put(tryNow, v)
	if err == ErrTimeout {
		return false, nil
	}
	return err == nil, err
}

func (t *QueueOf[T]) put(dl deadline, v T) error {
	if !t.c.Raw() {
		return t.putEncoded(dl, v)
	}
	var w Reservation
	if err := t.q.reserve(&dl, t.c.Size(), &w); err != nil {
		return err
	}
	p := t.scratch.Get().(*T)
	*p = v
	_, err := t.c.Append(w.buf[:0], p)
	t.scratch.Put(p)
	if err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func (t *QueueOf[T]) putEncoded(dl deadline, v T) error {
	b, err := t.c.Append(nil, &v)
	if err != nil {
		return err
	}
	return t.q.put1(dl, b)
}

// Get removes and returns the oldest value, waiting while the queue is empty.
func (t *QueueOf[T]) Get() (T, error) { return t.get(forever) }

// GetTimeout is Get waiting at most d.
func (t *QueueOf[T]) GetTimeout(d time.Duration) (T, error) {
	dl, err := newDeadline(d)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := t.get(dl)
	return v, timeoutErr("ring: Get", d, err)
}

// GetContext is Get waiting until ctx is done.
func (t *QueueOf[T]) GetContext(ctx context.Context) (T, error) {
	return t.get(contextBound(ctx))
}

// TryGet takes a value if there is one now.
func (t *QueueOf[T]) TryGet() (T, bool, error) {
	v, err := t.get(tryNow)
	if err == ErrTimeout {
		return v, false, nil
	}
	return v, err == nil, err
}

func (t *QueueOf[T]) get(dl deadline) (T, error) {
	var m Message
	if err := t.q.claim(&dl, &m); err != nil {
		var zero T
		return zero, err
	}
	p := t.scratch.Get().(*T)
	derr := t.c.Decode(m.buf, p)
	v := *p
	t.scratch.Put(p)
	if err := m.Release(); err != nil {
		return v, err
	}
	return v, derr
}
