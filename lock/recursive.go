package lock

import (
	"context"
	"fmt"
	"time"

	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

var recursiveKind shm.Kind

func init() {
	recursiveKind = shm.RegisterKind("lock.RecursiveLock", func(r shm.Ref) (any, error) { return OpenRecursiveLock(r) })
}

// A RecursiveLock is a re-entrant lock shared between processes: Python's multiprocessing.RLock
// (renamed here so that it is not mistaken for RWLock.RLock, a read lock). Its word (see
// mutex.go) holds the owner's pid, a waiters bit and a recursion count.
//
// The owner of a RecursiveLock is a process, and the recursion count is counted per process:
// while process P holds the RecursiveLock, any goroutine of P may acquire it again at once (the
// count goes up) and any goroutine of P may release one level (the count goes down); the lock is
// free when the count reaches 0. Go goroutines have no identity a library can use (Python's RLock
// records a thread id), so a RecursiveLock excludes other processes, not other goroutines of its
// owner's process: goroutines of one process that must exclude each other too should also take
// a sync.Mutex. docs/lock.md gives the reasoning.
//
// Acquisition and release are one compare-and-swap each when uncontended. Memory ordering and
// waiting are as for Lock.
//
// If the owning process dies holding the RecursiveLock (at any depth), a waiter takes it over
// within about 100 ms: its acquisition returns nil, it holds the lock with a count of 1, and
// Recovered is true until the last level is released. As for Lock, every acquiring method returns
// an error only when the caller does not hold the lock.
type RecursiveLock struct {
	ref shm.Ref
	m   mutex
}

// NewRecursiveLock allocates an unlocked RecursiveLock in the process's default heap, or in the
// heap that In names.
func NewRecursiveLock(opts ...Option) (*RecursiveLock, error) {
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(lockSize, recursiveKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new RecursiveLock: %w", err)
	}
	return OpenRecursiveLock(ref)
}

// OpenRecursiveLock returns the RecursiveLock that ref names; shm.ErrBadRef for a Ref that is not a live
// "lock.RecursiveLock".
func OpenRecursiveLock(ref shm.Ref) (*RecursiveLock, error) {
	b, err := openBlock(ref, recursiveKind, lockMin, "RecursiveLock")
	if err != nil {
		return nil, err
	}
	return &RecursiveLock{ref: ref, m: newMutex(b, lockStamp, kindRecursive)}, nil
}

// Lock acquires the RecursiveLock, or one more level of it when this process holds it already. It returns
// nil holding it (Recovered tells a takeover from a dead owner), or ErrCorrupt without it.
func (r *RecursiveLock) Lock() error {
	return r.m.LockForever()
}

// LockTimeout is Lock bounded by d (0: try once; Forever: no bound); an error matching ErrTimeout
// when d passes.
func (r *RecursiveLock) LockTimeout(d time.Duration) error {
	if d < 0 && d != Forever {
		return shdeadline.Check("lock: RecursiveLock.Lock", d)
	}
	if r.m.Fast() {
		return nil
	}
	dl, err := deadlineFor("lock: RecursiveLock.Lock", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: RecursiveLock.Lock", acquired(r.m.Lock(dl)))
}

// LockContext is Lock bounded by ctx: ctx.Err(), without the lock, when ctx ends first.
func (r *RecursiveLock) LockContext(ctx context.Context) error {
	if r.m.Fast() {
		return nil
	}
	return acquired(r.m.Lock(contextBound(ctx)))
}

// TryLock acquires the RecursiveLock if it is free, held by this process, or held by a dead process (then
// Recovered is true); it never blocks, and reports whether the caller now holds it.
func (r *RecursiveLock) TryLock() (bool, error) {
	if r.m.Fast() {
		return true, nil
	}
	return tried(r.m.Try(true))
}

// Recovered reports whether this process holds the RecursiveLock and took it over from a process that
// died holding it; see Lock.Recovered. The mark lasts until the last level is released.
func (r *RecursiveLock) Recovered() bool { return r.m.Recovered() }

// Do runs fn holding one level of the RecursiveLock and releases that level when fn returns or panics;
// see Lock.Do.
func (r *RecursiveLock) Do(fn func(ownerDied bool) error) error {
	return do(r.Lock, r.Unlock, r.Recovered, fn)
}

// Unlock releases one level; the RecursiveLock is free when the last level is released. ErrNotOwner when
// this process does not hold it.
func (r *RecursiveLock) Unlock() error {
	return r.m.Unlock()
}

// Depth returns how many levels this process holds (0 when it does not hold the RecursiveLock).
func (r *RecursiveLock) Depth() int {
	return r.m.Depth()
}

// Owner returns the pid of the process holding the RecursiveLock, 0 when it is free (a snapshot).
func (r *RecursiveLock) Owner() int { return int(r.m.Owner()) }

// Ref returns the RecursiveLock's Ref.
func (r *RecursiveLock) Ref() shm.Ref { return r.ref }

// Free returns the RecursiveLock's memory to its heap; see Lock.Free.
func (r *RecursiveLock) Free() error { return shm.Free(r.ref) }
