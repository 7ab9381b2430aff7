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

// Condition block layout:
//
//	offset size
//	     0    4 sequence: bumped by every Notify; the futex word waiters sleep on
//	     4    4 waiters: goroutines in Wait not yet notified (changed only under the Lock)
//	     8    4 signals: notifications not yet consumed by a waiter
//	    16    8 the Lock's payload offset in the same segment
//	    24    4 the Lock's allocation generation
const (
	condSeq      = 0
	condWaiters  = 4
	condSignals  = 8
	condLockOff  = 16
	condLockGen  = 24
	condSize     = 32
	condMaxCount = 1 << 30 // more waiters or signals than this is corrupt
)

var condKind shm.Kind

func init() {
	condKind = shm.RegisterKind("lock.Condition", func(r shm.Ref) (any, error) { return OpenCondition(r) })
}

// A Condition lets goroutines of any process wait, holding a Lock, until another notifies them:
// Python's multiprocessing.Condition. It lives in its own heap block in the same segment as its
// Lock, and records where the Lock is, so a child opened from the Condition's Ref finds both.
//
// Wait releases the Lock, sleeps until notified (or the timeout), and takes the Lock again before
// it returns; Notify(n) wakes up to n waiters, NotifyAll every one. Notify and Wait must be called
// with the Lock held (ErrNotOwner otherwise). A notification is a token that any waiting goroutine
// may take: Notify(n) lets n waiters return, but a goroutine that began waiting at the same time
// as the Notify may take a token meant for an earlier waiter. Wait may also return spuriously
// (as Python allows): loop on the predicate, or use WaitFor.
//
// Memory ordering: as for the Lock, which every Wait re-acquires.
//
// When a process dies: if it held the Lock, the next acquirer (a waking waiter included) gets
// ErrOwnerDead, as for any Lock. A waiter that dies while waiting leaves one waiter counted that
// will never wake: a later Notify may spend a token on it, which a later Wait then takes at once
// (a spurious wake-up); no live waiter is left blocked by it, since tokens are not addressed.
type Condition struct {
	ref                  shm.Ref
	seq, waiters, signal *uint32
	loc                  *local
	l                    *Lock
}

// NewCondition allocates a Condition over l, in l's segment. A nil l makes a new Lock in the
// default heap (Python's default is an RLock; here it is a Lock).
func NewCondition(l *Lock) (*Condition, error) {
	if l == nil {
		var err error
		if l, err = NewLock(); err != nil {
			return nil, err
		}
	}
	seg := shm.Lookup(l.Ref().Seg)
	if seg == nil {
		return nil, fmt.Errorf("%w: the Lock's segment is not open", shm.ErrBadRef)
	}
	h, err := seg.Heap()
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(condSize, condKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new Condition: %w", err)
	}
	_, b, err := shm.Resolve(ref, condKind)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(shm.Word32(b, condLockGen), l.Ref().Gen)
	atomic.StoreUint64(shm.Word64(b, condLockOff), l.Ref().Off)
	return OpenCondition(ref)
}

// OpenCondition returns the Condition that ref names, with its Lock; shm.ErrBadRef for a Ref that
// is not a live "lock.Condition", or whose Lock is no longer live.
func OpenCondition(ref shm.Ref) (*Condition, error) {
	b, err := openBlock(ref, condKind, condSize, "Condition")
	if err != nil {
		return nil, err
	}
	lref := ref
	lref.Kind = lockKind
	lref.Off = atomic.LoadUint64(shm.Word64(b, condLockOff))
	lref.Gen = atomic.LoadUint32(shm.Word32(b, condLockGen))
	l, err := OpenLock(lref)
	if err != nil {
		return nil, fmt.Errorf("lock: open Condition's Lock: %w", err)
	}
	c := &Condition{ref: ref, l: l, seq: shm.Word32(b, condSeq), waiters: shm.Word32(b, condWaiters),
		signal: shm.Word32(b, condSignals)}
	c.loc = localFor(c.seq)
	return c, nil
}

// Locker returns the Condition's Lock.
func (c *Condition) Locker() *Lock { return c.l }

// Lock acquires the Condition's Lock (see Lock.Lock).
func (c *Condition) Lock() error { return c.l.Lock() }

// Unlock releases the Condition's Lock (see Lock.Unlock).
func (c *Condition) Unlock() error { return c.l.Unlock() }

func (c *Condition) held() error {
	if owner := c.l.m.owner(); owner != self {
		return fmt.Errorf("%w: Condition used without holding its Lock (owner pid %d)", ErrNotOwner, owner)
	}
	return nil
}

// Wait releases the Lock, waits for a notification, and re-acquires the Lock; see WaitTimeout.
func (c *Condition) Wait() error { return c.wait(forever) }

// WaitTimeout releases the Lock, waits until notified or d passes (0: just look; Forever: no
// bound), and takes the Lock again, without bound, before it returns (as Python does). It returns
// nil when notified, ErrTimeout when d passed, ErrOwnerDead (possibly joined with ErrTimeout)
// when re-acquiring took the Lock from a dead process, ErrNotOwner when the caller's process did
// not hold the Lock (then it waits for nothing).
func (c *Condition) WaitTimeout(d time.Duration) error {
	dl, err := deadlineFor(d)
	if err != nil {
		return err
	}
	return c.wait(dl)
}

func (c *Condition) wait(dl deadline) error {
	if err := c.held(); err != nil {
		return err
	}
	if n := atomic.AddUint32(c.waiters, 1); n > condMaxCount {
		atomic.AddUint32(c.waiters, ^uint32(0))
		return corrupt("Condition waiters", uint64(n))
	}
	if err := c.l.Unlock(); err != nil {
		return err
	}
	notified := false
	for !notified {
		s := atomic.LoadUint32(c.seq)
		if c.consume() {
			notified = true
			break
		}
		d, ok := dl.remaining()
		if !ok {
			break
		}
		if err := c.loc.park(context.Background(), c.seq, s, d); err != nil && !errors.Is(err, ErrTimeout) {
			c.relock()
			return fmt.Errorf("lock: futex wait: %w", err)
		}
	}
	err := c.relock()
	if !notified {
		// Under the Lock: a Notify that raced with the timeout left a token; take it (we count
		// as notified). Otherwise un-count ourselves.
		if c.consume() {
			return err
		}
		atomic.AddUint32(c.waiters, ^uint32(0))
		if err != nil {
			return errors.Join(ErrTimeout, err)
		}
		return ErrTimeout
	}
	return err
}

// consume takes a notification token if there is one.
func (c *Condition) consume() bool {
	for {
		n := atomic.LoadUint32(c.signal)
		if n == 0 || n > condMaxCount {
			return false
		}
		if atomic.CompareAndSwapUint32(c.signal, n, n-1) {
			return true
		}
	}
}

// relock re-acquires the Lock after a wait; only ErrOwnerDead (holding it) or ErrCorrupt.
func (c *Condition) relock() error { return c.l.Lock() }

// WaitFor waits, as WaitTimeout, until pred() is true, calling pred with the Lock held; d bounds
// the whole wait. It returns nil once pred() is true (the caller holds the Lock), ErrTimeout when
// d passed with pred() still false (the caller holds the Lock), or the first other error.
func (c *Condition) WaitFor(pred func() bool, d time.Duration) error {
	dl, err := deadlineFor(d)
	if err != nil {
		return err
	}
	var dead error
	for !pred() {
		if _, ok := dl.remaining(); !ok {
			return errors.Join(ErrTimeout, dead)
		}
		err := c.wait(dl)
		switch {
		case err == nil:
		case errors.Is(err, ErrOwnerDead):
			dead = err
		case errors.Is(err, ErrTimeout):
		default:
			return err
		}
	}
	return dead
}

// Notify wakes up to n goroutines waiting on the Condition (n >= 1). The caller must hold the Lock.
func (c *Condition) Notify(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: Notify(%d)", ErrBadArg, n)
	}
	return c.notify(uint32(min(n, condMaxCount)))
}

// NotifyAll wakes every goroutine waiting on the Condition. The caller must hold the Lock.
func (c *Condition) NotifyAll() error { return c.notify(condMaxCount) }

func (c *Condition) notify(n uint32) error {
	if err := c.held(); err != nil {
		return err
	}
	w := atomic.LoadUint32(c.waiters)
	s := atomic.LoadUint32(c.signal)
	if w > condMaxCount || s > condMaxCount {
		return fmt.Errorf("%w: Condition with %d waiters, %d signals", ErrCorrupt, w, s)
	}
	k := min(n, w)
	if k == 0 {
		return nil
	}
	atomic.AddUint32(c.waiters, -k)
	atomic.AddUint32(c.signal, k)
	atomic.AddUint32(c.seq, 1)
	if _, err := futex.Wake(c.seq, 0); err != nil {
		return fmt.Errorf("lock: futex wake: %w", err)
	}
	return nil
}

// Ref returns the Condition's Ref.
func (c *Condition) Ref() shm.Ref { return c.ref }

// Free returns the Condition's memory to its heap (not its Lock's: free that separately); see
// Lock.Free.
func (c *Condition) Free() error { return shm.Free(c.ref) }
