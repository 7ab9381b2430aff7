package lock

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/shm"
)

var rlockKind shm.Kind

func init() {
	rlockKind = shm.RegisterKind("lock.RLock", func(r shm.Ref) (any, error) { return OpenRLock(r) })
}

// An RLock is a re-entrant lock shared between processes: Python's multiprocessing.RLock. Its
// word (see mutex.go) holds the owner's pid, a waiters bit and a recursion count.
//
// The owner of an RLock is a process, and the recursion count is counted per process: while
// process P holds the RLock, any goroutine of P may acquire it again at once (the count goes up)
// and any goroutine of P may release one level (the count goes down); the RLock is free when the
// count reaches 0. Go goroutines have no identity a library can use (Python's RLock records a
// thread id), so an RLock excludes other processes, not other goroutines of its owner's process:
// goroutines of one process that must exclude each other too should also take a sync.Mutex.
// docs/lock.md gives the reasoning.
//
// Acquisition and release are one compare-and-swap each when uncontended. Memory ordering and
// waiting are as for Lock.
//
// If the owning process dies holding the RLock (at any depth), a waiter takes it over within about
// 100 ms: its acquisition returns nil, it holds the RLock with a count of 1, and Recovered is true
// until the last level is released. As for Lock, every acquiring method returns an error only
// when the caller does not hold the RLock.
type RLock struct {
	ref shm.Ref
	m   mutex
}

// NewRLock allocates an unlocked RLock in the process's default heap.
func NewRLock() (*RLock, error) {
	h, err := shm.Default()
	if err != nil {
		return nil, err
	}
	return NewRLockIn(h)
}

// NewRLockIn allocates an unlocked RLock in heap h.
func NewRLockIn(h *shm.Heap) (*RLock, error) {
	ref, err := h.Alloc(lockSize, rlockKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new RLock: %w", err)
	}
	return OpenRLock(ref)
}

// OpenRLock returns the RLock that ref names; shm.ErrBadRef for a Ref that is not a live
// "lock.RLock".
func OpenRLock(ref shm.Ref) (*RLock, error) {
	b, err := openBlock(ref, rlockKind, lockSize, "RLock")
	if err != nil {
		return nil, err
	}
	return &RLock{ref: ref, m: newMutex(shm.Word64(b, 0), shm.Word32(b, 0), true, "RLock")}, nil
}

// Lock acquires the RLock, or one more level of it when this process holds it already. It returns
// nil holding it (Recovered tells a takeover from a dead owner), or ErrCorrupt without it.
func (r *RLock) Lock() error {
	if atomic.CompareAndSwapUint64(r.m.w, 0, uint64(self)|mOne) {
		raceAcquire(r.m.loc)
		return nil
	}
	return acquired(r.m.lock(forever))
}

// LockTimeout is Lock bounded by d (0: try once; Forever: no bound); ErrTimeout when d passes.
func (r *RLock) LockTimeout(d time.Duration) error {
	if d < 0 && d != Forever {
		return fmt.Errorf("%w: %v", ErrBadTimeout, d)
	}
	if atomic.CompareAndSwapUint64(r.m.w, 0, uint64(self)|mOne) {
		raceAcquire(r.m.loc)
		return nil
	}
	dl, err := deadlineFor(d)
	if err != nil {
		return err
	}
	return acquired(r.m.lock(dl))
}

// TryLock acquires the RLock if it is free, held by this process, or held by a dead process (then
// Recovered is true); it never blocks, and reports whether the caller now holds it.
func (r *RLock) TryLock() (bool, error) {
	if atomic.CompareAndSwapUint64(r.m.w, 0, uint64(self)|mOne) {
		raceAcquire(r.m.loc)
		return true, nil
	}
	return tried(r.m.tryOnce(true))
}

// Recovered reports whether this process holds the RLock and took it over from a process that
// died holding it; see Lock.Recovered. The mark lasts until the last level is released.
func (r *RLock) Recovered() bool { return r.m.recovered() }

// Do runs fn holding one level of the RLock and releases that level when fn returns or panics;
// see Lock.Do.
func (r *RLock) Do(fn func(ownerDied bool) error) error {
	return do(r.Lock, r.Unlock, r.Recovered, fn)
}

// Unlock releases one level; the RLock is free when the last level is released. ErrNotOwner when
// this process does not hold it.
func (r *RLock) Unlock() error {
	raceRelease(r.m.loc)
	if atomic.CompareAndSwapUint64(r.m.w, uint64(self)|mOne, 0) {
		return nil
	}
	return r.m.unlock()
}

// Depth returns how many levels this process holds (0 when it does not hold the RLock).
func (r *RLock) Depth() int {
	v := atomic.LoadUint64(r.m.w)
	if uint32(v)&pidMask != self {
		return 0
	}
	return int(v >> 32)
}

// Owner returns the pid of the process holding the RLock, 0 when it is free (a snapshot).
func (r *RLock) Owner() int { return int(r.m.owner()) }

// Ref returns the RLock's Ref.
func (r *RLock) Ref() shm.Ref { return r.ref }

// Free returns the RLock's memory to its heap; see Lock.Free.
func (r *RLock) Free() error { return shm.Free(r.ref) }
