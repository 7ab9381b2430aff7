package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/shm"
)

// The Event word (32 bits): bit 0 set, bit 1 waiters (some process may be parked). Any other bit
// is ErrCorrupt.
const (
	evSet     = 1
	evWaiters = 2
	eventSize = 4
)

var eventKind shm.Kind

func init() {
	eventKind = shm.RegisterKind("lock.Event", func(r shm.Ref) (any, error) { return OpenEvent(r) })
}

// An Event is a flag shared between processes that goroutines can wait on: Python's
// multiprocessing.Event, manual reset (it stays set until Clear). It is one 32-bit word in a heap
// block.
//
// Set when nobody waits and Wait on a set Event are a load and at most one compare-and-swap; Set
// makes a futex syscall only when a waiter is parked. Every goroutine (of every process) waiting
// when Set is called returns. Memory ordering: what a process wrote before Set is visible to a
// goroutine whose Wait returned because of that Set.
//
// Nobody holds an Event, so no death is detected: a process that dies before it calls Set simply
// never sets it; bound waits with a timeout when the setter may die.
type Event struct {
	ref shm.Ref
	w   *uint32
	loc *local
}

// NewEvent allocates a clear Event in the process's default heap, or in the heap that In names.
func NewEvent(opts ...Option) (*Event, error) {
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(eventSize, eventKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new Event: %w", err)
	}
	return OpenEvent(ref)
}

// OpenEvent returns the Event that ref names; shm.ErrBadRef for a Ref that is not a live
// "lock.Event".
func OpenEvent(ref shm.Ref) (*Event, error) {
	b, err := openBlock(ref, eventKind, eventSize, "Event")
	if err != nil {
		return nil, err
	}
	w := shm.Word32(b, 0)
	return &Event{ref: ref, w: w, loc: localFor(w)}, nil
}

func (e *Event) load() (uint32, error) {
	v := atomic.LoadUint32(e.w)
	if v&^(evSet|evWaiters) != 0 {
		return v, corrupt("Event", uint64(v))
	}
	return v, nil
}

// Set sets the flag and wakes every waiter.
func (e *Event) Set() error {
	raceRelease(e.loc)
	for {
		v, err := e.load()
		if err != nil {
			return err
		}
		if v == evSet {
			return nil
		}
		if atomic.CompareAndSwapUint32(e.w, v, evSet) {
			if v&evWaiters != 0 {
				if _, err := futex.Wake(e.w, 0); err != nil {
					return fmt.Errorf("lock: futex wake: %w", err)
				}
			}
			return nil
		}
	}
}

// Clear resets the flag; later Waits block until the next Set.
func (e *Event) Clear() error {
	for {
		v, err := e.load()
		if err != nil {
			return err
		}
		if v&evSet == 0 || atomic.CompareAndSwapUint32(e.w, v, v&^evSet) {
			return nil
		}
	}
}

// IsSet reports whether the flag is set (a snapshot).
func (e *Event) IsSet() bool { return atomic.LoadUint32(e.w)&evSet != 0 }

// Wait waits until the flag is set, without bound. It returns nil, or ErrCorrupt.
func (e *Event) Wait() error { return e.wait(forever) }

// WaitTimeout waits until the flag is set, at most d (0: just look; Forever: no bound); it
// returns an error matching ErrTimeout when d passed with the flag clear.
func (e *Event) WaitTimeout(d time.Duration) error {
	if atomic.LoadUint32(e.w) == evSet {
		raceAcquire(e.loc)
		return nil
	}
	dl, err := deadlineFor("lock: Event.Wait", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: Event.Wait", e.wait(dl))
}

// WaitContext waits until the flag is set or ctx is done (then ctx.Err()).
func (e *Event) WaitContext(ctx context.Context) error { return e.wait(contextBound(ctx)) }

func (e *Event) wait(dl deadline) (err error) {
	defer func() {
		if err == nil {
			raceAcquire(e.loc)
		}
	}()
	if atomic.LoadUint32(e.w)&evSet != 0 {
		return nil
	}
	if _, err := dl.Left(Forever); err != nil {
		return err
	}
	if e.loc.Spin(func() bool { return atomic.LoadUint32(e.w)&evSet != 0 }) {
		return nil
	}
	for {
		v, err := e.load()
		if err != nil {
			return err
		}
		if v&evSet != 0 {
			return nil
		}
		if v&evWaiters == 0 {
			if !atomic.CompareAndSwapUint32(e.w, v, v|evWaiters) {
				continue
			}
			v |= evWaiters
		}
		d, err := dl.Left(Forever)
		if err != nil {
			return err
		}
		if err := e.loc.Park(dl.Context(), e.w, v, d); err != nil && !errors.Is(err, ErrTimeout) {
			return err
		}
	}
}

// Ref returns the Event's Ref.
func (e *Event) Ref() shm.Ref { return e.ref }

// Free returns the Event's memory to its heap; see Lock.Free.
func (e *Event) Free() error { return shm.Free(e.ref) }
