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

// A Sentinel is anything that reports its end on a channel, such as a *proc.Process.
type Sentinel interface {
	Done() <-chan struct{}
}

// Wait waits until at least one of objects is ready, at most d (0: just look; Forever: no
// bound), and returns the ready ones, in the order given: a *Queue or *JoinableQueue is ready when
// it holds a message or is closed, a *Conn when Recv would return at once, a Sentinel (a
// *proc.Process) when its Done channel is closed. On timeout it returns no objects and ErrTimeout.
//
// It sleeps with futex_waitv on the queues' words, so it takes one OS thread however many objects
// it watches (at most futex.MaxWaitV-1 queues); where futex_waitv is missing it polls every
// millisecond.
func Wait(d time.Duration, objects ...any) ([]any, error) {
	dl, err := newDeadline(context.Background(), d)
	if err != nil {
		return nil, err
	}
	qs := make([]*Queue, len(objects))
	var sentinels []Sentinel
	for i, o := range objects {
		switch o := o.(type) {
		case *Queue:
			qs[i] = o
		case *JoinableQueue:
			qs[i] = o.Queue
		case *Conn:
			if err := o.check(o.recv, "receive"); err != nil {
				return nil, err
			}
			qs[i] = o.recv
		case Sentinel:
			sentinels = append(sentinels, o)
		default:
			return nil, fmt.Errorf("ring: Wait on a %T", o)
		}
	}
	for _, q := range qs {
		if q != nil && q.Closed() {
			return nil, fmt.Errorf("ring: Wait: %w", ErrClosed)
		}
	}
	// One word in this process, bumped when a sentinel fires.
	local := new(uint32)
	if len(sentinels) > 0 {
		stop := make(chan struct{})
		defer close(stop)
		for _, s := range sentinels {
			go func(done <-chan struct{}) {
				select {
				case <-done:
					atomic.AddUint32(local, 1)
					futex.Wake(local, 0)
				case <-stop:
				}
			}(s.Done())
		}
	}
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
		var left time.Duration
		if len(ready) == 0 {
			left, err = dl.left(tick)
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

func readyOf(objects []any, qs []*Queue) []any {
	var ready []any
	for i, o := range objects {
		if q := qs[i]; q != nil {
			if !q.Empty() || q.IsShutdown() {
				ready = append(ready, o)
			}
			continue
		}
		select {
		case <-o.(Sentinel).Done():
			ready = append(ready, o)
		default:
		}
	}
	return ready
}
