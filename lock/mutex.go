package lock

import (
	"errors"

	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/shm"
)

// The mutex word of Lock, RecursiveLock, the writer side of RWLock and Barrier's internal lock is
// internal/robust's: 64 bits, 8-aligned, little-endian, its low half the futex word (owner pid in
// bits 0..21, waiters bit 22, recovered bit 23, bits 24..31 zero), bits 32..63 RecursiveLock's
// recursion count (>= 1 while held; always 0 for the others). Free is exactly 0; every other
// impossible state is reported as ErrCorrupt. Its shared layout is unchanged by the move.
type mutex = robust.Mutex

// The kinds of mutex this package has: what differs between them is the name, recursion, and
// the errors they wrap.
var (
	kindLock      = &robust.Kind{What: "Lock", Corrupt: ErrCorrupt, NotOwner: ErrNotOwner}
	kindRecursive = &robust.Kind{What: "RecursiveLock", Recursive: true, Corrupt: ErrCorrupt, NotOwner: ErrNotOwner, Overflow: ErrBadArgs}
	kindRWLock    = &robust.Kind{What: "RWLock", Corrupt: ErrCorrupt, NotOwner: ErrNotOwner}
	kindBarrier   = &robust.Kind{What: "Barrier mutex", Corrupt: ErrCorrupt, NotOwner: ErrNotOwner}
)

// newMutex returns the handle of the mutex word at the start of block b, with its hold stamp at
// stampAt when the block has room for it (blocks made before the stamp had none).
func newMutex(b []byte, stampAt int, k *robust.Kind) mutex {
	m := robust.New(shm.Word64(b, 0), &localFor(shm.Word32(b, 0)).Local, k)
	if stampAt > 0 && len(b) >= stampAt+8 {
		m.SetStamp(shm.Word64(b, stampAt))
	}
	return m
}

// acquired is the outcome of an acquisition: an error only without the lock; a takeover is a
// success, which the word records (see Recovered).
func acquired(_ bool, err error) error { return err }

// tried is the outcome of a Try form: an error only without the lock; a takeover is a success,
// which the word records (see Recovered).
func tried(ok, _ bool, err error) (bool, error) { return ok && err == nil, err }

// do runs fn between lock and unlock, telling it whether the lock was recovered from a dead
// owner; the unlock runs even if fn panics. See Lock.Do.
func do(lock, unlock func() error, recovered func() bool, fn func(ownerDied bool) error) (err error) {
	if err := lock(); err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	return fn(recovered())
}
