package lock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

// RWLock block layout:
//
//	offset size
//	     0    8 writer mutex word (mutex.go): held by a writer from the moment it wants the lock,
//	            so new readers wait behind it (writers are not starved)
//	     8    4 readers word: bits 0..29 readers holding the lock, bit 31 drain (a writer is
//	            parked waiting for the readers to leave); bit 30 always 0
//	    12    4 reader gate: bits 0..30 a sequence bumped at every writer release, bit 31 readers
//	            parked; the futex word readers sleep on
//	    16    4 recovered: 1 from the takeover of a writer that died holding the write lock until a
//	            writer's Unlock, 0 otherwise (any other value counts as 1)
//	    24    8 the writer mutex's hold stamp (internal/robust)
//	    64  128 holders table: read locks held per process (holders.go)
const (
	rwReaders   = 8
	rwGate      = 12
	rwDirty     = 16
	rwStamp     = 24
	rwHolders   = 64
	rwSize      = rwHolders + holdersSize
	rwCountMask = 1<<30 - 1
	rwDrain     = 1 << 31
	rwParked    = 1 << 31
)

var rwKind shm.Kind

func init() {
	rwKind = shm.RegisterKind("lock.RWLock", func(r shm.Ref) (any, error) { return OpenRWLock(r) })
}

// An RWLock is a readers-writer lock shared between processes: any number of readers, or one
// writer. A writer that asks for the lock holds the writer mutex from then on, so readers that
// come after it wait: writers are not starved by a stream of readers. As for Lock, the owner of
// the write side is a process, and so is the holder of a read lock: any goroutine of a process
// may release what the process holds. A process that holds a read lock and asks for the write
// lock deadlocks (until its timeout), as with sync.RWMutex.
//
// Uncontended, RLock is three atomic operations (a load of the writer word, an add on the readers
// word, a second load) plus one add on this process's holders entry; Lock is a compare-and-swap
// plus a load. Futex syscalls happen only when someone is parked. Memory ordering: what a writer
// wrote before Unlock is visible to every later reader and writer; what readers read is never
// concurrent with a write.
//
// When a process dies: a dead writer (holding or waiting for the write lock) is detected by the
// next writer or by a waiting reader, which takes its place and gets the lock (its Lock or RLock
// returns nil); from then until a writer's Unlock, Recovered reports true to readers and writers,
// since what the dead writer was writing may be half-done. The read locks of each process are
// counted in a table in the block (up to 16 processes at once); a writer waiting for readers gives
// back those of dead processes (a reader changes nothing, so this is not reported). A reader that
// dies within a few instructions of RLock, or one beyond the 16 tracked processes, leaves its read
// lock held: writers then wait until their timeout. As for Lock, every acquiring method returns
// an error only when the caller does not hold what it asked for.
type RWLock struct {
	ref     shm.Ref
	m       mutex
	readers *uint32
	gate    *uint32
	dirty   *uint32
	rloc    *local // for the readers word (the writer waits on it)
	gloc    *local // for the reader gate (readers wait on it)
	hold    holders
}

// NewRWLock allocates an unlocked RWLock in the default heap, or in the heap that In names.
func NewRWLock(opts ...Option) (*RWLock, error) {
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(rwSize, rwKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new RWLock: %w", err)
	}
	return OpenRWLock(ref)
}

// OpenRWLock returns the RWLock that ref names; shm.ErrBadRef for a Ref that is not a live
// "lock.RWLock".
func OpenRWLock(ref shm.Ref) (*RWLock, error) {
	b, err := openBlock(ref, rwKind, rwSize, "RWLock")
	if err != nil {
		return nil, err
	}
	rw := &RWLock{ref: ref, m: newMutex(b, rwStamp, kindRWLock),
		readers: shm.Word32(b, rwReaders), gate: shm.Word32(b, rwGate), dirty: shm.Word32(b, rwDirty)}
	rw.rloc, rw.gloc = localFor(rw.readers), localFor(rw.gate)
	rw.hold.init(func(i int) *uint64 { return shm.Word64(b, rwHolders+8*i) }, shm.Lookup(ref.Seg))
	return rw, nil
}

func (rw *RWLock) loadReaders() (uint32, error) {
	r := atomic.LoadUint32(rw.readers)
	if r&^(rwCountMask|rwDrain) != 0 || r&rwCountMask == rwCountMask {
		return r, corrupt("RWLock readers", uint64(r))
	}
	return r, nil
}

// Lock acquires the write lock, waiting as long as it takes. It returns nil holding it (see
// Recovered for a writer that died), or ErrCorrupt without it.
func (rw *RWLock) Lock() error { return rw.lock(forever) }

// LockTimeout is Lock bounded by d (0: try once; Forever: no bound); an error matching
// ErrTimeout, without the lock, when d passes.
func (rw *RWLock) LockTimeout(d time.Duration) error {
	dl, err := deadlineFor("lock: RWLock.Lock", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: RWLock.Lock", rw.lock(dl))
}

// LockContext is Lock bounded by ctx: ctx.Err(), without the lock, when ctx ends first.
func (rw *RWLock) LockContext(ctx context.Context) error { return rw.lock(contextBound(ctx)) }

// TryLock takes the write lock if nobody holds the lock (or its writer died), and never blocks;
// it reports whether the caller now holds it.
func (rw *RWLock) TryLock() (bool, error) {
	err := rw.lock(shdeadline.Try())
	if errors.Is(err, ErrTimeout) {
		return false, nil
	}
	return err == nil, err
}

// Recovered reports whether a writer died holding the write lock and no writer has released it
// since (a snapshot): what the dead writer was writing may be half-done. Readers can check it; the
// writer that holds the lock should repair the data, and its Unlock clears the mark.
func (rw *RWLock) Recovered() bool { return atomic.LoadUint32(rw.dirty) != 0 }

// Do runs fn holding the write lock and releases it when fn returns or panics; ownerDied is
// Recovered. See Lock.Do.
func (rw *RWLock) Do(fn func(ownerDied bool) error) error {
	return do(rw.Lock, rw.Unlock, rw.Recovered, fn)
}

// RDo runs fn holding a read lock and releases it when fn returns or panics; ownerDied is
// Recovered (fn reads data a dead writer may have left half-written). See Lock.Do.
func (rw *RWLock) RDo(fn func(ownerDied bool) error) error {
	return do(rw.RLock, rw.RUnlock, rw.Recovered, fn)
}

// markDead records that a writer died holding the write lock.
func (rw *RWLock) markDead() { atomic.StoreUint32(rw.dirty, 1) }

func (rw *RWLock) lock(dl deadline) error {
	if !rw.m.Fast() {
		recovered, err := rw.m.Lock(dl)
		if err != nil {
			return err
		}
		if recovered {
			rw.markDead()
		}
	}
	// Writer mutex held: no new reader gets in; wait for those inside to leave.
	var bo backoff
	for {
		r, err := rw.loadReaders()
		if err != nil {
			rw.releaseWriter()
			return err
		}
		if r&rwCountMask == 0 {
			if r&rwDrain != 0 {
				atomic.AndUint32(rw.readers, ^uint32(rwDrain))
			}
			raceAcquire(rw.rloc)
			return nil
		}
		if r&rwDrain == 0 {
			if !atomic.CompareAndSwapUint32(rw.readers, r, r|rwDrain) {
				continue
			}
			r |= rwDrain
		}
		d, err := dl.Left(bo.Next())
		if err == nil {
			err = rw.rloc.Park(dl.Context(), rw.readers, r, d)
			if errors.Is(err, ErrTimeout) {
				rw.hold.reap(rw.dropReaders)
				continue
			}
			if err != nil && ended(dl) == nil {
				err = fmt.Errorf("lock: futex wait: %w", err)
			}
		}
		if err != nil {
			// Out of time or context, or a failed wait: no writer waits for the readers now.
			atomic.AndUint32(rw.readers, ^uint32(rwDrain))
			rw.releaseWriter()
			return cmp.Or(ended(dl), err)
		}
	}
}

// dropReaders removes n read locks of a dead process from the readers count.
func (rw *RWLock) dropReaders(n uint32) {
	for {
		r := atomic.LoadUint32(rw.readers)
		nr := r - min(n, r&rwCountMask)
		if atomic.CompareAndSwapUint32(rw.readers, r, nr) {
			return
		}
	}
}

// releaseWriter releases the writer mutex and opens the reader gate.
func (rw *RWLock) releaseWriter() error {
	if err := rw.m.Unlock(); err != nil {
		return err
	}
	for {
		g := atomic.LoadUint32(rw.gate)
		if atomic.CompareAndSwapUint32(rw.gate, g, (g+1)&^rwParked) {
			if g&rwParked != 0 {
				if _, err := futex.Wake(rw.gate, 0); err != nil {
					return fmt.Errorf("lock: futex wake: %w", err)
				}
			}
			return nil
		}
	}
}

// Unlock releases the write lock, and clears Recovered: the writer has left the data whole.
// ErrNotOwner when this process does not hold it.
func (rw *RWLock) Unlock() error {
	if rw.m.Mine() {
		atomic.StoreUint32(rw.dirty, 0)
	}
	return rw.releaseWriter()
}

// tryRead makes one attempt at a read lock.
func (rw *RWLock) tryRead() (bool, error) {
	w := atomic.LoadUint64(rw.m.Word())
	if err := rw.m.Check(w); err != nil {
		return false, err
	}
	if w != 0 {
		return false, nil
	}
	r := atomic.AddUint32(rw.readers, 1)
	if r&rwCountMask == rwCountMask || r&(1<<30) != 0 {
		rw.leaveReader()
		return false, corrupt("RWLock readers", uint64(r))
	}
	if rw.m.Owner() == 0 {
		// The holders entry goes up after the count, so a death in between leaves a read lock
		// held (a writer times out) rather than freeing one still in use.
		rw.hold.add(1, rw.dropReaders)
		rw.m.Local().RaceAcquire()
		return true, nil
	}
	rw.leaveReader()
	return false, nil
}

// leaveReader takes one reader off the count, waking a draining writer when it was the last.
func (rw *RWLock) leaveReader() {
	r := atomic.AddUint32(rw.readers, ^uint32(0))
	if r&rwCountMask == 0 && r&rwDrain != 0 {
		futex.Wake(rw.readers, 1)
	}
}

// RLock acquires a read lock, waiting as long as it takes. It returns nil holding it (when it
// found the writer dead and took its place, Recovered is true), or ErrCorrupt without it.
func (rw *RWLock) RLock() error { return rw.rlock(forever) }

// RLockTimeout is RLock bounded by d (0: try once; Forever: no bound); an error matching
// ErrTimeout, without a read lock, when d passes.
func (rw *RWLock) RLockTimeout(d time.Duration) error {
	dl, err := deadlineFor("lock: RWLock.RLock", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: RWLock.RLock", rw.rlock(dl))
}

// RLockContext is RLock bounded by ctx: ctx.Err(), without a read lock, when ctx ends first.
func (rw *RWLock) RLockContext(ctx context.Context) error { return rw.rlock(contextBound(ctx)) }

// TryRLock takes a read lock if no writer holds or waits for the lock, and never blocks.
func (rw *RWLock) TryRLock() (bool, error) { return rw.tryRead() }

func (rw *RWLock) rlock(dl deadline) error {
	if ok, err := rw.tryRead(); ok || err != nil {
		return err
	}
	if _, err := dl.Left(Forever); err != nil {
		return err
	}
	var err error
	if rw.gloc.Spin(func() bool {
		if atomic.LoadUint64(rw.m.Word()) != 0 {
			return false
		}
		var ok bool
		ok, err = rw.tryRead()
		return ok || err != nil
	}) {
		return err
	}
	var bo backoff
	for {
		if ok, err := rw.tryRead(); ok || err != nil {
			return err
		}
		g := atomic.LoadUint32(rw.gate)
		if g&rwParked == 0 {
			if !atomic.CompareAndSwapUint32(rw.gate, g, g|rwParked) {
				continue
			}
			g |= rwParked
		}
		owner := rw.m.Owner()
		if owner == 0 {
			continue
		}
		sliceEnded, err := rw.gloc.Slice(dl, &bo, rw.gate, g)
		if err != nil {
			return err
		}
		if sliceEnded {
			if rw.m.OwnerDead() {
				if ok, recovered, err := rw.m.Try(true); ok && recovered {
					rw.markDead()
					if err := rw.releaseWriter(); err != nil {
						return err
					}
				} else if ok {
					rw.releaseWriter()
				} else if err != nil {
					return err
				}
			}
		}
	}
}

// RUnlock releases a read lock held by this process; ErrNotOwner when it holds none.
func (rw *RWLock) RUnlock() error {
	raceRelease(rw.rloc)
	had, tracked := rw.hold.sub(1)
	if tracked && had == 0 {
		return fmt.Errorf("%w: RUnlock of an RWLock this process has not read-locked", ErrNotOwner)
	}
	for {
		r, err := rw.loadReaders()
		if err != nil {
			return err
		}
		if r&rwCountMask == 0 {
			return fmt.Errorf("%w: RUnlock of an RWLock with no readers", ErrNotOwner)
		}
		if atomic.CompareAndSwapUint32(rw.readers, r, r-1) {
			if (r-1)&rwCountMask == 0 && r&rwDrain != 0 {
				if _, err := futex.Wake(rw.readers, 1); err != nil {
					return fmt.Errorf("lock: futex wake: %w", err)
				}
			}
			return nil
		}
	}
}

// Readers returns how many read locks are held (a snapshot).
func (rw *RWLock) Readers() int { return int(atomic.LoadUint32(rw.readers) & rwCountMask) }

// Ref returns the RWLock's Ref.
func (rw *RWLock) Ref() shm.Ref { return rw.ref }

// Free returns the RWLock's memory to its heap; see Lock.Free.
func (rw *RWLock) Free() error { return shm.Free(rw.ref) }
