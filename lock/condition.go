package lock

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/shm"
)

// Condition block layout:
//
//	offset size
//	     0    8 queue word: bits 0..31 served, the futex word waiters sleep on; bits 32..63
//	            tickets. Each Wait takes ticket t = tickets (tickets+1), under the Lock; Notify
//	            moves served forward; a waiter is notified once served has passed its ticket
//	            (served - t, as a signed 32-bit number, > 0). tickets - served <= condMaxCount.
//	     8    4 holes: at least the number of tickets in [served, tickets) whose waiter left
//	            without being notified (timed out); changed under the Lock
//	    12    4 the kind of the lock: 0 a Lock, 1 a RecursiveLock
//	    16    8 the Lock's payload offset in the same segment
//	    24    4 the Lock's allocation generation
//	    64  128 holders table: goroutines inside Wait, per process (holders.go)
const (
	condQueue    = 0
	condHoles    = 8
	condLockKind = 12
	condLockOff  = 16
	condLockGen  = 24
	condHolders  = 64
	condSize     = condHolders + holdersSize
	condMaxCount = 1 << 30 // more waiters or holes than this is corrupt
)

var condKind shm.Kind

func init() {
	condKind = shm.RegisterKind("lock.Condition", func(r shm.Ref) (any, error) { return OpenCondition(r) })
}

// A Condition lets goroutines of any process wait, holding a lock, until another notifies them:
// Python's multiprocessing.Condition. Its lock is a Lock (the default) or a RecursiveLock. A
// RecursiveLock is held by a process, not a goroutine, so a Condition over one must be used by
// one goroutine at a time in each process. It lives in its own heap block in the same segment as its lock, and
// records where the lock is, so a child opened from the Condition's Ref finds both.
//
// Wait releases the lock (every level of a RecursiveLock), sleeps until notified (or the
// timeout), and takes the lock again, at the depth it had, before it returns; Notify(n) wakes up
// to n waiters, NotifyAll every one. Notify and Wait must be called with the lock held
// (ErrNotOwner otherwise).
//
// A notification is addressed: it wakes only goroutines that were already waiting when it was
// sent, as Python and POSIX promise. Each Wait takes a ticket under the Lock, in order; Notify(n)
// wakes the n oldest waiters, and a goroutine that begins to wait after Notify returned (the
// notifier itself included, still holding the Lock) never takes a notification meant for an
// earlier waiter. Wait may return without a notification of its own (a spurious wake-up, which
// Python allows): after a waiter timed out or its process died, as below. Loop on the predicate,
// or use WaitFor.
//
// Memory ordering: as for the Lock, which every Wait re-acquires.
//
// Wait never changes whether the caller holds the Lock: it returns holding it, whatever it
// returns, except ErrNotOwner (the caller did not hold it) and ErrCorrupt (the Lock's word is
// lost). So "defer c.Unlock()" after Lock, and "if err != nil { return err }" after Wait, are
// right together.
//
// When a process dies: if it held the Lock, the next acquirer (a waking waiter included) takes it
// over, and Recovered reports it, as for any Lock. A waiter that dies inside Wait keeps its ticket, and a Notify may
// be spent on it; so the Condition counts the goroutines inside Wait per process (in a table of 16
// processes in the block), and a live waiter that has waited a while (about 100 ms, then every
// slice) probes the processes in the table: when one with waiters is dead, it wakes every
// waiter (each returns as if notified, maybe spuriously). A notification spent on a dead waiter is
// thus passed on, never lost, at the price of spurious wake-ups. A waiter in a process beyond the
// 16 in the table is not counted, and its death is not detected. A waiter that times out leaves a
// hole in the queue: the Notifys after it wake one more waiter per hole, possibly spuriously,
// until the waiters ahead of the hole are all served.
type Condition struct {
	ref   shm.Ref
	queue *uint64 // tickets<<32 | served
	serve *uint32 // the low half of queue: the futex word
	holes *uint32
	loc   *local
	hold  holders
	l     Locker
	m     *mutex // l's word
}

// A Locker is the lock of a Condition: a *Lock or a *RecursiveLock (only this package's types
// implement it).
type Locker interface {
	Lock() error
	Unlock() error
	Recovered() bool
	Owner() int
	Ref() shm.Ref
	Free() error
	word() *mutex
}

func (l *Lock) word() *mutex {
	if l == nil {
		return nil
	}
	return &l.m
}

func (r *RecursiveLock) word() *mutex {
	if r == nil {
		return nil
	}
	return &r.m
}

// NewCondition allocates a Condition over l, in l's segment. A nil l makes a new Lock in the
// default heap. (Python's Condition() makes an RLock, which excludes other threads; a
// RecursiveLock only excludes other processes, so goroutines of one process sharing a Condition
// over it would all hold it at once, and one's Wait would release the others' levels: the default
// is the lock that excludes every goroutine.)
func NewCondition(l Locker) (*Condition, error) {
	if l == nil || l.word() == nil {
		nl, err := NewLock()
		if err != nil {
			return nil, err
		}
		l = nl
	}
	kind := uint32(0)
	if l.word().Recursive() {
		kind = 1
	}
	seg := shm.Lookup(l.Ref().Seg)
	if seg == nil {
		return nil, fmt.Errorf("%w: the lock's segment is not open", shm.ErrBadRef)
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
	atomic.StoreUint32(shm.Word32(b, condLockKind), kind)
	atomic.StoreUint32(shm.Word32(b, condLockGen), l.Ref().Gen)
	atomic.StoreUint64(shm.Word64(b, condLockOff), l.Ref().Off)
	return OpenCondition(ref)
}

// OpenCondition returns the Condition that ref names, with its lock; shm.ErrBadRef for a Ref that
// is not a live "lock.Condition", or whose lock is no longer live.
func OpenCondition(ref shm.Ref) (*Condition, error) {
	b, err := openBlock(ref, condKind, condSize, "Condition")
	if err != nil {
		return nil, err
	}
	lref := ref
	lref.Off = atomic.LoadUint64(shm.Word64(b, condLockOff))
	lref.Gen = atomic.LoadUint32(shm.Word32(b, condLockGen))
	var l Locker
	switch k := atomic.LoadUint32(shm.Word32(b, condLockKind)); k {
	case 0:
		lref.Kind = lockKind
		l, err = OpenLock(lref)
	case 1:
		lref.Kind = recursiveKind
		l, err = OpenRecursiveLock(lref)
	default:
		return nil, corrupt("Condition lock kind", uint64(k))
	}
	if err != nil {
		return nil, fmt.Errorf("lock: open Condition's lock: %w", err)
	}
	c := &Condition{ref: ref, l: l, m: l.word(), queue: shm.Word64(b, condQueue),
		serve: shm.Word32(b, condQueue), holes: shm.Word32(b, condHoles)}
	c.hold.init(func(i int) *uint64 { return shm.Word64(b, condHolders+8*i) }, shm.Lookup(ref.Seg))
	c.loc = localFor(c.serve)
	return c, nil
}

// Locker returns the Condition's lock.
func (c *Condition) Locker() Locker { return c.l }

// Lock acquires the Condition's lock (see Lock.Lock and RecursiveLock.Lock).
func (c *Condition) Lock() error { return c.l.Lock() }

// Unlock releases (one level of) the Condition's lock.
func (c *Condition) Unlock() error { return c.l.Unlock() }

func (c *Condition) held() error {
	if !c.m.Mine() {
		owner := c.m.Owner()
		return fmt.Errorf("%w: Condition used without holding its Lock (owner pid %d)", ErrNotOwner, owner)
	}
	return nil
}

// Recovered reports whether this process holds the Lock and took it over from a process that died
// holding it (see Lock.Recovered); check it after a Wait to learn that the Lock holder died.
func (c *Condition) Recovered() bool { return c.l.Recovered() }

// Wait releases the lock, waits for a notification, and re-acquires the lock; see WaitTimeout.
func (c *Condition) Wait() error { return c.wait(forever) }

// WaitContext is Wait bounded by ctx: when ctx ends first it re-acquires the lock, without
// bound, and returns ctx.Err(), holding the lock as WaitTimeout does.
func (c *Condition) WaitContext(ctx context.Context) error { return c.wait(contextBound(ctx)) }

// WaitTimeout releases the Lock, waits until notified or d passes (0: just look; Forever: no
// bound), and takes the Lock again, without bound, before it returns (as Python does). It returns
// nil when notified (or spuriously, see Condition) and ErrTimeout when d passed, holding the Lock
// in both cases (Recovered tells whether re-acquiring took it from a dead process); ErrNotOwner
// when the caller's process did not hold the Lock (then it waits for nothing).
func (c *Condition) WaitTimeout(d time.Duration) error {
	dl, err := deadlineFor("lock: Condition.Wait", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: Condition.Wait", c.wait(dl))
}

// queueOf splits a queue word, and validates it.
func queueOf(v uint64) (tickets, served uint32, err error) {
	tickets, served = uint32(v>>32), uint32(v)
	if tickets-served > condMaxCount {
		return tickets, served, corrupt("Condition queue", v)
	}
	return tickets, served, nil
}

// isServed reports whether the waiter holding ticket t has been notified.
func isServed(served, t uint32) bool { return int32(served-t) > 0 }

func (c *Condition) wait(dl deadline) error {
	if err := c.held(); err != nil {
		return err
	}
	// Counted before the ticket, uncounted after it is settled: a death in between is an
	// over-count (a spurious wake-up for the others), never a waiter nobody knows about.
	c.hold.add(1, c.deadWaiters)
	defer c.hold.sub(1)
	var t uint32
	for {
		v := atomic.LoadUint64(c.queue)
		tickets, _, err := queueOf(v)
		if err != nil {
			return err
		}
		if atomic.CompareAndSwapUint64(c.queue, v, v+1<<32) {
			t = tickets
			break
		}
	}
	depth, err := c.m.UnlockAll()
	if err != nil {
		c.leave(t)
		return err
	}
	var stop error // why the wait ended before a notification
	var bo backoff
	for stop == nil {
		s := atomic.LoadUint32(c.serve)
		if isServed(s, t) {
			break
		}
		sliceEnded, err := c.loc.Slice(dl, &bo, c.serve, s)
		if err != nil {
			stop = err
			break
		}
		if sliceEnded {
			c.probe()
		}
	}
	if _, err := c.m.Relock(depth); err != nil {
		return err
	}
	if stop != nil && !c.leave(t) {
		return stop
	}
	return nil
}

// leave settles ticket t of a waiter that stopped waiting (the caller holds the Lock, or has lost
// it to corruption): it reports whether the ticket was served meanwhile (the waiter counts as
// notified); otherwise it withdraws the ticket, or records a hole when later tickets exist.
func (c *Condition) leave(t uint32) bool {
	for {
		v := atomic.LoadUint64(c.queue)
		tickets, served := uint32(v>>32), uint32(v)
		if isServed(served, t) {
			return true
		}
		if tickets != t+1 {
			if h := atomic.LoadUint32(c.holes); h < condMaxCount {
				atomic.AddUint32(c.holes, 1)
			}
			return false
		}
		if atomic.CompareAndSwapUint64(c.queue, v, v-1<<32) {
			return false
		}
	}
}

// probe looks, at most every probeEvery per process, for dead processes that had goroutines
// inside Wait, and wakes every waiter if it finds one (see Condition).
func (c *Condition) probe() {
	now := time.Now().UnixNano()
	last := c.loc.probed.Load()
	if now-last < int64(probeEvery) || !c.loc.probed.CompareAndSwap(last, now) {
		return
	}
	c.hold.reap(c.deadWaiters)
}

// probeEvery bounds how often the waiters of one process probe for dead waiters.
const probeEvery = 50 * time.Millisecond

// deadWaiters is called with the number of goroutines a dead process had inside Wait: a
// notification may have been spent on them, so every waiter is woken.
func (c *Condition) deadWaiters(n uint32) {
	if n > 0 {
		c.wakeAll()
	}
}

// wakeAll serves every ticket taken so far and wakes the waiters. It needs no Lock: serving more
// waiters than asked is at worst spurious.
func (c *Condition) wakeAll() error {
	for {
		v := atomic.LoadUint64(c.queue)
		tickets, served, err := queueOf(v)
		if err != nil {
			return err
		}
		if tickets == served {
			return nil
		}
		if atomic.CompareAndSwapUint64(c.queue, v, uint64(tickets)<<32|uint64(tickets)) {
			return c.wake()
		}
	}
}

func (c *Condition) wake() error {
	if _, err := futex.Wake(c.serve, 0); err != nil {
		return fmt.Errorf("lock: futex wake: %w", err)
	}
	return nil
}

// WaitFor waits, as WaitTimeout, until pred() is true, calling pred with the Lock held; d bounds
// the whole wait. It returns nil once pred() is true, ErrTimeout when d passed with pred() still
// false (the caller holds the Lock in both cases), or the first other error of Wait.
func (c *Condition) WaitFor(pred func() bool, d time.Duration) error {
	dl, err := deadlineFor("lock: Condition.WaitFor", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: Condition.WaitFor", c.waitFor(pred, dl))
}

// WaitForContext is WaitFor bounded by ctx: ctx.Err() when ctx ends with pred() still false (the
// caller holds the lock).
func (c *Condition) WaitForContext(ctx context.Context, pred func() bool) error {
	return c.waitFor(pred, contextBound(ctx))
}

func (c *Condition) waitFor(pred func() bool, dl deadline) error {
	for !pred() {
		if _, err := dl.Left(Forever); err != nil {
			return err
		}
		if err := c.wait(dl); err != nil && err != ErrTimeout {
			return err
		}
	}
	return nil
}

// Notify wakes up to n goroutines waiting on the Condition (n >= 1). The caller must hold the Lock.
func (c *Condition) Notify(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: Notify(%d)", ErrBadArgs, n)
	}
	return c.notify(uint32(min(n, condMaxCount)))
}

// NotifyAll wakes every goroutine waiting on the Condition. The caller must hold the Lock.
func (c *Condition) NotifyAll() error { return c.notify(condMaxCount) }

func (c *Condition) notify(n uint32) error {
	if err := c.held(); err != nil {
		return err
	}
	for {
		v := atomic.LoadUint64(c.queue)
		tickets, served, err := queueOf(v)
		if err != nil {
			return err
		}
		waiting := tickets - served
		holes := atomic.LoadUint32(c.holes)
		if holes > condMaxCount {
			return corrupt("Condition holes", uint64(holes))
		}
		if waiting == 0 {
			if holes != 0 {
				atomic.StoreUint32(c.holes, 0)
			}
			return nil
		}
		// At most holes of the next tickets belong to waiters that left: serve that many more,
		// so that n live waiters are woken (the extra ones, if any, spuriously).
		k := uint32(min(uint64(n)+uint64(holes), uint64(waiting)))
		if !atomic.CompareAndSwapUint64(c.queue, v, uint64(tickets)<<32|uint64(served+k)) {
			continue // a dead waiter's recovery served them meanwhile
		}
		atomic.StoreUint32(c.holes, min(holes, waiting-k))
		return c.wake()
	}
}

// Ref returns the Condition's Ref.
func (c *Condition) Ref() shm.Ref { return c.ref }

// Free returns the Condition's memory to its heap (not its Lock's: free that separately); see
// Lock.Free.
func (c *Condition) Free() error { return shm.Free(c.ref) }
