package ring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/shm"
)

var connKind shm.Kind

func init() {
	connKind = shm.RegisterKind("ring.Conn", func(r shm.Ref) (any, error) { return OpenConn(r) })
}

// ErrConnClosed is returned by Send on a pipe that was shut down (Conn.Shutdown, by either end,
// in any process): Python's BrokenPipeError. It wraps ErrShutdown.
var ErrConnClosed = fmt.Errorf("ring: connection shut down: %w", ErrShutdown)

// The layout of a Conn's block: the two queues it uses, as offset and generation in the same
// segment (offset 0: none).
const (
	connRecvOff = 0
	connRecvGen = 8
	connSendOff = 16
	connSendGen = 24
	connSize    = 64
)

// A Conn is one end of a Pipe: messages sent on one end are received, in order, on the other,
// through a single-producer single-consumer ring in shared memory. One goroutine at a time may
// Send on a Conn and one at a time may Recv; pass the Conn to another process (as the target's
// *ring.Conn parameter) to use it there.
//
// Close is local, as Python's Connection.close: it ends this handle only, and the other end, and
// other handles on this end (a child's), go on working; so a parent may close its copy of the
// child's end once the child has started. Shutdown ends the pipe for both ends in every
// process: the receivers get what was sent and then io.EOF, senders get ErrConnClosed.
//
// Peer death: a sender killed mid-Send leaves no partial message; the receiver does not learn
// of the death from the Conn itself (use Wait with the process's sentinel), as with Python's
// Pipe when the other end is inherited.
type Conn struct {
	ref        shm.Ref
	heap       *shm.Heap
	recv, send *Queue
	closed     atomic.Bool
}

// Pipe returns the two ends of a pipe. With duplex, each end sends and receives; without, the
// first end only receives and the second only sends, as Python's Pipe(duplex=False). opts may be
// nil; its Size, MaxMessage and Heap apply to each direction's queue (a pipe's queues are always
// single-producer and single-consumer: one end sends, the other receives).
func Pipe(duplex bool, opts *Options) (c1, c2 *Conn, err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.SingleProducer, o.SingleConsumer = true, true
	h, err := heapOf(&o)
	if err != nil {
		return nil, nil, err
	}
	o.Heap = h
	opts = &o
	var qs []*Queue
	defer func() {
		if err != nil {
			for _, q := range qs {
				q.Free()
			}
		}
	}()
	a, err := NewQueue(opts)
	if err != nil {
		return nil, nil, err
	}
	qs = append(qs, a)
	var b *Queue
	if duplex {
		if b, err = NewQueue(opts); err != nil {
			return nil, nil, err
		}
		qs = append(qs, b)
	}
	// c1 receives on a and sends on b; c2 the other way round, through handles of its own, so
	// that closing one end's handles leaves the other's open.
	if c1, err = newConn(h, a, b); err != nil {
		return nil, nil, err
	}
	var a2, b2 *Queue
	if a2, err = reopen(a); err == nil {
		if b2, err = reopen(b); err == nil {
			c2, err = newConn(h, b2, a2)
		}
	}
	if err != nil {
		h.Free(c1.ref)
		return nil, nil, err
	}
	return c1, c2, nil
}

// reopen returns another handle on q (nil for nil).
func reopen(q *Queue) (*Queue, error) {
	if q == nil {
		return nil, nil
	}
	return OpenQueue(q.ref)
}

func newConn(h *shm.Heap, recv, send *Queue) (*Conn, error) {
	ref, err := h.Alloc(connSize, connKind)
	if err != nil {
		return nil, err
	}
	_, b, err := shm.Resolve(ref, connKind)
	if err != nil {
		return nil, err
	}
	if recv != nil {
		atomic.StoreUint64(shm.Word64(b, connRecvOff), recv.ref.Off)
		atomic.StoreUint64(shm.Word64(b, connRecvGen), uint64(recv.ref.Gen))
	}
	if send != nil {
		atomic.StoreUint64(shm.Word64(b, connSendOff), send.ref.Off)
		atomic.StoreUint64(shm.Word64(b, connSendGen), uint64(send.ref.Gen))
	}
	return &Conn{ref: ref, heap: h, recv: recv, send: send}, nil
}

// OpenConn returns the end of a pipe that ref names.
func OpenConn(ref shm.Ref) (*Conn, error) {
	seg, b, err := shm.Resolve(ref, connKind)
	if err != nil {
		return nil, err
	}
	if len(b) < connSize {
		return nil, corrupt("conn block of %d bytes", len(b))
	}
	heap, err := seg.Heap()
	if err != nil {
		return nil, err
	}
	c := &Conn{ref: ref, heap: heap}
	open := func(offAt, genAt int) (*Queue, error) {
		off := atomic.LoadUint64(shm.Word64(b, offAt))
		if off == 0 {
			return nil, nil
		}
		gen := atomic.LoadUint64(shm.Word64(b, genAt))
		return OpenQueue(shm.Ref{Seg: ref.Seg, Name: ref.Name, Off: off, Kind: queueKind, Gen: uint32(gen)})
	}
	if c.recv, err = open(connRecvOff, connRecvGen); err != nil {
		return nil, err
	}
	if c.send, err = open(connSendOff, connSendGen); err != nil {
		return nil, err
	}
	return c, nil
}

// Ref returns the Ref by which another process opens this end.
func (c *Conn) Ref() shm.Ref { return c.ref }

// Free returns this end's memory, and that of the ring it receives from, to the heap. Call it on
// both ends once neither is used any more, in any process.
func (c *Conn) Free() error {
	var err error
	if c.recv != nil {
		err = c.recv.Free()
	}
	return errors.Join(err, c.heap.Free(c.ref))
}

// Close says that this handle on this end will not be used again: calls on it fail with
// ErrClosed from then on, and those blocked in it return ErrClosed. The pipe itself goes on
// working for every other handle (see Conn). Closing twice is harmless.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	for _, q := range []*Queue{c.send, c.recv} {
		if q != nil {
			q.Close()
		}
	}
	return nil
}

// Closed reports whether this handle was closed.
func (c *Conn) Closed() bool { return c.closed.Load() }

// Shutdown ends the pipe for both ends, in every process: Recv on either end returns what was
// sent and then io.EOF, Send fails with ErrConnClosed, and calls blocked on the pipe wake (see
// Queue.Shutdown for the ordering). On a closed handle it returns ErrClosed and does nothing.
func (c *Conn) Shutdown() error {
	if c.closed.Load() {
		return ErrClosed
	}
	for _, q := range []*Queue{c.send, c.recv} {
		if q != nil {
			q.Shutdown()
		}
	}
	return nil
}

func (c *Conn) check(q *Queue, what string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if q == nil {
		return fmt.Errorf("ring: this end of a one-way pipe cannot %s", what)
	}
	return nil
}

// Send sends msg to the other end, waiting while the ring is full.
func (c *Conn) Send(msg []byte) error {
	if err := c.check(c.send, "send"); err != nil {
		return err
	}
	return sendErr(c.send.Put(msg))
}

// SendTimeout is Send waiting at most d; an error matching ErrTimeout when the ring stayed full.
func (c *Conn) SendTimeout(msg []byte, d time.Duration) error {
	dl, err := newDeadline(d)
	if err != nil {
		return err
	}
	return timeoutErr("ring: Send", d, c.send1(dl, msg))
}

// SendContext is Send waiting until ctx is done; it then returns ctx.Err().
func (c *Conn) SendContext(ctx context.Context, msg []byte) error {
	return c.send1(contextBound(ctx), msg)
}

func (c *Conn) send1(dl deadline, msg []byte) error {
	if err := c.check(c.send, "send"); err != nil {
		return err
	}
	return sendErr(c.send.put1(dl, msg))
}

func sendErr(err error) error {
	if errors.Is(err, ErrShutdown) {
		return ErrConnClosed
	}
	return err
}

func recvErr(err error) error {
	if errors.Is(err, ErrShutdown) {
		return io.EOF
	}
	return err
}

// Recv returns the next message, waiting for one; io.EOF once the pipe was shut down and
// everything sent has been received.
func (c *Conn) Recv() ([]byte, error) {
	if err := c.check(c.recv, "receive"); err != nil {
		return nil, err
	}
	b, err := c.recv.Get()
	return b, recvErr(err)
}

// RecvTimeout is Recv waiting at most d; an error matching ErrTimeout when nothing came.
func (c *Conn) RecvTimeout(d time.Duration) ([]byte, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	b, err := c.recv1(dl)
	return b, timeoutErr("ring: Recv", d, err)
}

// RecvContext is Recv waiting until ctx is done; it then returns ctx.Err().
func (c *Conn) RecvContext(ctx context.Context) ([]byte, error) {
	return c.recv1(contextBound(ctx))
}

func (c *Conn) recv1(dl deadline) ([]byte, error) {
	if err := c.check(c.recv, "receive"); err != nil {
		return nil, err
	}
	b, err := c.recv.get1(dl, nil)
	return b, recvErr(err)
}

// Poll reports whether Recv would return at once (a message, or io.EOF), waiting at most d for
// that (0: just look; Forever: no bound).
func (c *Conn) Poll(d time.Duration) (bool, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return false, err
	}
	return c.poll(dl)
}

// PollContext is Poll waiting until ctx is done; it then returns false and ctx.Err().
func (c *Conn) PollContext(ctx context.Context) (bool, error) {
	return c.poll(contextBound(ctx))
}

func (c *Conn) poll(dl deadline) (bool, error) {
	ready, err := wait(dl, []Waitable{c})
	if err == ErrTimeout {
		return false, nil
	}
	return len(ready) > 0, err
}

// Send sends v on c, encoded as QueueOf[T] encodes it.
func Send[T any](c *Conn, v T) error {
	if err := c.check(c.send, "send"); err != nil {
		return err
	}
	return sendErr(AsQueueOf[T](c.send).Put(v))
}

// Recv receives a value of type T from c, sent by Send[T]; io.EOF as Conn.Recv.
func Recv[T any](c *Conn) (T, error) {
	if err := c.check(c.recv, "receive"); err != nil {
		var zero T
		return zero, err
	}
	v, err := AsQueueOf[T](c.recv).Get()
	return v, recvErr(err)
}
