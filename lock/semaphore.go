package lock

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/shm"
)

// Semaphore block layout:
//
//	offset size
//	     0    4 value word: bits 0..30 the value, bit 31 waiters (some process may be parked)
//	     4    4 bound: the initial value of a BoundedSemaphore (the value may not exceed it), 0 for
//	            a Semaphore
//	    64  128 holders table: units held per process (holders.go)
const (
	semWaiters  = 1 << 31
	semMask     = semWaiters - 1
	semHolders  = 64
	semaphoreSz = semHolders + holdersSize
	// MaxSemaphore is the largest value a Semaphore can hold.
	MaxSemaphore = semMask
)

var semKind, bsemKind shm.Kind

func init() {
	semKind = shm.RegisterKind("lock.Semaphore", func(r shm.Ref) (any, error) { return OpenSemaphore(r) })
	bsemKind = shm.RegisterKind("lock.BoundedSemaphore", func(r shm.Ref) (any, error) { return OpenBoundedSemaphore(r) })
}

// A Semaphore is a counter shared between processes that Acquire decrements, waiting while it is
// 0, and Release increments: Python's multiprocessing.Semaphore, to limit how many processes use
// a resource at once.
//
// Acquire and Release are one compare-and-swap on the value word plus one atomic add on this
// process's entry of a holders table, when uncontended; Release makes a futex syscall only when a
// waiter is parked. Memory ordering: what a process wrote before Release is visible to the process
// whose Acquire takes that unit.
//
// When a process dies: the block records how many units each process holds (acquired and not yet
// released by that same process; up to 16 processes at once, later ones are not tracked). A waiter
// that has waited a while looks for entries of dead processes and gives their units back; a unit
// so recovered is a unit like any other, and the Acquire that takes it returns nil. As for Lock,
// every acquiring method returns an error only when the caller did not get a unit. The limits: a death within a few instructions of
// an Acquire or Release may lose one unit (never create one); and the recovery assumes lock-like
// use, where a process releases what it acquired. A Semaphore used to count events (one process
// releases, another acquires) should not rely on it: a dead consumer's acquisitions would come
// back as units. A BoundedSemaphore never goes above its bound, recovered units included.
type Semaphore struct {
	ref   shm.Ref
	w     *uint32
	bound uint32
	loc   *local
	hold  holders
	what  string
}

// A BoundedSemaphore is a Semaphore whose Release fails with ErrOverRelease when it would raise
// the value above the initial value: Python's multiprocessing.BoundedSemaphore. A dead holder's
// units are recovered as for a Semaphore, never above the bound.
type BoundedSemaphore struct {
	Semaphore
}

// NewSemaphore allocates a Semaphore with the given initial value (0..MaxSemaphore) in the default
// heap, or in the heap that In names.
func NewSemaphore(value int, opts ...Option) (*Semaphore, error) {
	ref, err := newSemaphore(opts, value, semKind, false)
	if err != nil {
		return nil, err
	}
	return OpenSemaphore(ref)
}

// NewBoundedSemaphore allocates a BoundedSemaphore with the given initial value (1..MaxSemaphore)
// in the default heap, or in the heap that In names.
func NewBoundedSemaphore(value int, opts ...Option) (*BoundedSemaphore, error) {
	ref, err := newSemaphore(opts, value, bsemKind, true)
	if err != nil {
		return nil, err
	}
	return OpenBoundedSemaphore(ref)
}

func newSemaphore(opts []Option, value int, kind shm.Kind, bounded bool) (shm.Ref, error) {
	if value < 0 || value > MaxSemaphore || (bounded && value == 0) {
		return shm.Ref{}, fmt.Errorf("%w: semaphore value %d", ErrBadArgs, value)
	}
	h, err := heapFor(opts)
	if err != nil {
		return shm.Ref{}, err
	}
	ref, err := h.Alloc(semaphoreSz, kind)
	if err != nil {
		return shm.Ref{}, fmt.Errorf("lock: new semaphore: %w", err)
	}
	_, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return shm.Ref{}, err
	}
	if bounded {
		atomic.StoreUint32(shm.Word32(b, 4), uint32(value))
	}
	atomic.StoreUint32(shm.Word32(b, 0), uint32(value))
	return ref, nil
}

// OpenSemaphore returns the Semaphore that ref names; shm.ErrBadRef for a Ref that is not a live
// "lock.Semaphore".
func OpenSemaphore(ref shm.Ref) (*Semaphore, error) {
	s := new(Semaphore)
	if err := s.open(ref, semKind, "Semaphore"); err != nil {
		return nil, err
	}
	if s.bound != 0 {
		return nil, fmt.Errorf("%w: Semaphore with a bound", ErrCorrupt)
	}
	return s, nil
}

// OpenBoundedSemaphore returns the BoundedSemaphore that ref names.
func OpenBoundedSemaphore(ref shm.Ref) (*BoundedSemaphore, error) {
	s := new(BoundedSemaphore)
	if err := s.open(ref, bsemKind, "BoundedSemaphore"); err != nil {
		return nil, err
	}
	if s.bound == 0 || s.bound > MaxSemaphore {
		return nil, fmt.Errorf("%w: BoundedSemaphore bound %d", ErrCorrupt, s.bound)
	}
	return s, nil
}

func (s *Semaphore) open(ref shm.Ref, kind shm.Kind, what string) error {
	b, err := openBlock(ref, kind, semaphoreSz, what)
	if err != nil {
		return err
	}
	s.ref, s.what = ref, what
	s.w = shm.Word32(b, 0)
	s.bound = atomic.LoadUint32(shm.Word32(b, 4))
	s.loc = localFor(s.w)
	s.hold.init(func(i int) *uint64 { return shm.Word64(b, semHolders+8*i) }, shm.Lookup(ref.Seg))
	return nil
}

func (s *Semaphore) load() (uint32, error) {
	v := atomic.LoadUint32(s.w)
	if s.bound != 0 && v&semMask > s.bound {
		return v, corrupt(s.what, uint64(v))
	}
	return v, nil
}

// take makes one attempt to take a unit; it never blocks.
func (s *Semaphore) take() (bool, error) {
	for {
		v, err := s.load()
		if err != nil {
			return false, err
		}
		if v&semMask == 0 {
			return false, nil
		}
		if atomic.CompareAndSwapUint32(s.w, v, v-1) {
			raceAcquire(s.loc)
			s.hold.add(1, s.giveBack)
			return true, nil
		}
	}
}

// giveBack returns n units recovered from a dead process, within the bound.
func (s *Semaphore) giveBack(n uint32) {
	for {
		v := atomic.LoadUint32(s.w)
		val := v & semMask
		nv := min(uint64(val)+uint64(n), semMask)
		if s.bound != 0 {
			nv = min(nv, uint64(s.bound))
		}
		if atomic.CompareAndSwapUint32(s.w, v, uint32(nv)) {
			if v&semWaiters != 0 {
				futex.Wake(s.w, 0)
			}
			return
		}
	}
}

// Acquire takes one unit, waiting as long as it takes (giving back the units of dead processes
// meanwhile, see Semaphore). It returns nil holding a unit, or ErrCorrupt without one.
func (s *Semaphore) Acquire() error { return s.acquire(forever) }

// AcquireTimeout is Acquire bounded by d (0: try once; Forever: no bound); an error matching
// ErrTimeout, without a unit, when d passes.
func (s *Semaphore) AcquireTimeout(d time.Duration) error {
	op := "lock: " + s.what + ".Acquire"
	dl, err := deadlineFor(op, d)
	if err != nil {
		return err
	}
	return dl.Err(op, s.acquire(dl))
}

// AcquireContext is Acquire bounded by ctx: ctx.Err(), without a unit, when ctx ends first.
func (s *Semaphore) AcquireContext(ctx context.Context) error {
	return s.acquire(contextBound(ctx))
}

// TryAcquire takes a unit if one is free, and never blocks; it reports whether it took one.
func (s *Semaphore) TryAcquire() (bool, error) { return s.take() }

func (s *Semaphore) acquire(dl deadline) error {
	if ok, err := s.take(); ok || err != nil {
		return err
	}
	if _, err := dl.Left(Forever); err != nil {
		return err
	}
	var err error
	if s.loc.Spin(func() bool {
		if atomic.LoadUint32(s.w)&semMask == 0 {
			return false
		}
		var ok bool
		ok, err = s.take()
		return ok || err != nil
	}) {
		return err
	}
	if err := s.loc.Enter(dl); err != nil {
		return err
	}
	defer s.loc.Leave()
	var b backoff
	for {
		if ok, err := s.take(); ok || err != nil {
			return err
		}
		v := atomic.LoadUint32(s.w)
		if v&semMask != 0 {
			continue
		}
		if v&semWaiters == 0 {
			if !atomic.CompareAndSwapUint32(s.w, v, v|semWaiters) {
				continue
			}
			v |= semWaiters
		}
		sliceEnded, err := s.loc.Slice(dl, &b, s.w, v)
		if err != nil {
			return err
		}
		if sliceEnded {
			s.hold.reap(s.giveBack)
		}
	}
}

// Release adds one unit and wakes waiters. A BoundedSemaphore fails with ErrOverRelease when its
// value would exceed its bound.
func (s *Semaphore) Release() error { return s.ReleaseN(1) }

// ReleaseN adds n units (n >= 1) at once, as Python's release(n).
func (s *Semaphore) ReleaseN(n int) error {
	if n < 1 || n > MaxSemaphore {
		return fmt.Errorf("%w: release of %d units", ErrBadArgs, n)
	}
	// The holders entry goes down first, so a death between the two steps loses a unit rather
	// than creating one.
	raceRelease(s.loc)
	had, tracked := s.hold.sub(uint32(n))
	for {
		v, err := s.load()
		if err != nil {
			return err
		}
		val := v & semMask
		if uint64(val)+uint64(n) > MaxSemaphore || (s.bound != 0 && val+uint32(n) > s.bound) {
			if tracked && had > 0 {
				s.hold.add(min(had, uint32(n)), s.giveBack)
			}
			limit := s.bound
			if limit == 0 {
				limit = MaxSemaphore
			}
			return fmt.Errorf("%w: %s value %d + %d exceeds %d", ErrOverRelease, s.what, val, n, limit)
		}
		if atomic.CompareAndSwapUint32(s.w, v, val+uint32(n)) {
			if v&semWaiters != 0 {
				if _, err := futex.Wake(s.w, 0); err != nil {
					return fmt.Errorf("lock: futex wake: %w", err)
				}
			}
			return nil
		}
	}
}

// Value returns the current value (a snapshot).
func (s *Semaphore) Value() int { return int(atomic.LoadUint32(s.w) & semMask) }

// Ref returns the semaphore's Ref.
func (s *Semaphore) Ref() shm.Ref { return s.ref }

// Free returns the semaphore's memory to its heap; see Lock.Free.
func (s *Semaphore) Free() error { return shm.Free(s.ref) }
