package ring

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/fence"
)

// A Sentinel is anything that reports its end on a channel, such as a *proc.Process; Ended makes
// one Waitable.
type Sentinel interface {
	Done() <-chan struct{}
}

// A Waitable is what Wait watches: a *Queue, *JoinableQueue, *QueueOf[T], *Conn or *ConnOf[T]
// (ready when a Get or Recv would return at once: a message is there, or the queue was shut
// down), or a Sentinel wrapped by Ended. Only this package's types implement it, so that Wait on
// anything else does not compile.
type Waitable interface {
	// waitQueue returns the queue whose messages make the object ready (nil for a sentinel), or
	// why it cannot be waited on.
	waitQueue() (*Queue, error)
}

func (q *Queue) waitQueue() (*Queue, error) {
	if q.Closed() {
		return nil, ErrClosed
	}
	return q, nil
}

func (t *QueueOf[T]) waitQueue() (*Queue, error) { return t.q.waitQueue() }

func (c *Conn) waitQueue() (*Queue, error) {
	if err := c.check(c.recv, "receive"); err != nil {
		return nil, err
	}
	return c.recv, nil
}

// ended is a Sentinel made Waitable.
type ended struct{ s Sentinel }

func (ended) waitQueue() (*Queue, error) { return nil, nil }

// Ended makes s (a *proc.Process) Waitable: ready once its Done channel is closed. For a
// comparable s (a pointer, as *proc.Process), Ended(s) == Ended(s), so what Wait returns can be
// compared with it.
func Ended(s Sentinel) Waitable { return ended{s} }

// Wait waits until at least one of objects is ready, at most d (0: just look; Forever: no
// bound), and returns the ready ones, in the order given (see Waitable). On timeout it returns no
// objects and an error matching ErrTimeout. A handle closed before or during the call makes it
// return ErrClosed.
//
// It sleeps with futex_waitv on the queues' words, so it takes one OS thread however many objects
// it watches (at most futex.MaxWaitV-1 queues); where futex_waitv is missing it polls every
// millisecond. Readiness is a snapshot: another consumer may take the message first.
func Wait(d time.Duration, objects ...Waitable) ([]Waitable, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	ready, err := wait(dl, objects)
	return ready, timeoutErr("ring: Wait", d, err)
}

// WaitContext is Wait waiting until ctx is done; it then returns ctx.Err().
func WaitContext(ctx context.Context, objects ...Waitable) ([]Waitable, error) {
	return wait(contextBound(ctx), objects)
}

func wait(dl deadline, objects []Waitable) ([]Waitable, error) {
	qs := make([]*Queue, len(objects))
	var sentinels []Sentinel
	for i, o := range objects {
		if o == nil {
			return nil, fmt.Errorf("ring: Wait on a nil object")
		}
		q, err := o.waitQueue()
		if err != nil {
			return nil, fmt.Errorf("ring: Wait: %w", err)
		}
		qs[i] = q
		if e, ok := o.(ended); ok {
			if e.s == nil {
				return nil, fmt.Errorf("ring: Wait on Ended(nil)")
			}
			sentinels = append(sentinels, e.s)
		}
	}
	// One word in this process, bumped when a sentinel fires or the context ends.
	local := new(uint32)
	bump := func() {
		atomic.AddUint32(local, 1)
		futex.Wake(local, 0)
	}
	if dl.Context() != nil {
		defer context.AfterFunc(dl.Context(), bump)()
	}
	if len(sentinels) > 0 {
		stop := make(chan struct{})
		defer close(stop)
		for _, s := range sentinels {
			go func(done <-chan struct{}) {
				select {
				case <-done:
					bump()
				case <-stop:
				}
			}(s.Done())
		}
	}
	var err error
	words := make([]futex.WaitWord, 0, len(objects)+1)
	// The first sleep lasts at most fence.DrainBound: a producer publishes with a release store
	// and may have looked for sleepers before the flags below rose, its store still on its way
	// (see wakeup.park).
	first := true
	for {
		words = words[:0]
		words = append(words, futex.WaitWord{Word: local, Val: atomic.LoadUint32(local)})
		for _, q := range qs {
			if q != nil {
				words = append(words, futex.WaitWord{Word: q.put.seq, Val: q.put.raise()})
			}
		}
		ready := readyOf(objects, qs)
		for _, q := range qs {
			if q != nil && q.Closed() { // Closed during the wait (Close wakes it)
				return nil, fmt.Errorf("ring: Wait: %w", ErrClosed)
			}
		}
		var left time.Duration
		if len(ready) == 0 {
			left, err = dl.Left(tick)
			if first && len(qs) > 0 {
				left, first = min(left, fence.DrainBound), false
			}
		}
		if len(ready) == 0 && err == nil {
			if len(words) > futex.MaxWaitV {
				err = fmt.Errorf("ring: Wait on more than %d queues", futex.MaxWaitV-1)
			} else if _, werr := futex.WaitV(words, left); errors.Is(werr, futex.ErrUnsupported) {
				time.Sleep(min(left, time.Millisecond))
			} else if werr != nil && werr != futex.ErrTimeout {
				err = werr
			}
		}
		if len(ready) > 0 || err != nil {
			return ready, err
		}
	}
}

func readyOf(objects []Waitable, qs []*Queue) []Waitable {
	var ready []Waitable
	for i, o := range objects {
		if q := qs[i]; q != nil {
			if !q.Empty() || q.IsShutdown() {
				ready = append(ready, o)
			}
			continue
		}
		select {
		case <-o.(ended).s.Done():
			ready = append(ready, o)
		default:
		}
	}
	return ready
}
