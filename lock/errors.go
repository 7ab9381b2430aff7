package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrTimeout is returned when a bounded wait ran out of time. It is the value
	// every shmkit package returns, and matches os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrTimeout = shdeadline.ErrTimeout
	// ErrOwnerDead reports that a process died holding a lock. No method of this package returns it
	// while the caller holds the lock (an acquisition that takes a dead owner's lock over returns
	// nil, and the lock's Recovered method tells); it is returned by calls that have finished with
	// the lock: value's Update, which applied its function and released the lock, and Barrier's
	// internal lock, wrapped in ErrBroken.
	ErrOwnerDead = errors.New("lock: previous owner died holding it")
	// ErrNotOwner is returned when a process releases what it does not hold: an unlocked Lock, a
	// Lock held by another process, a Condition used without its Lock.
	ErrNotOwner = errors.New("lock: not held by this process")
	// ErrOverRelease is returned when a BoundedSemaphore is released more times than it was
	// acquired (its value would exceed its initial value).
	ErrOverRelease = errors.New("lock: semaphore released too many times")
	// ErrBroken is returned by Barrier.Wait when the barrier is or becomes broken: aborted, reset
	// while parties waited, timed out, its action failed, or a waiting party's process died.
	ErrBroken = errors.New("lock: barrier broken")
	// ErrCorrupt is returned when a shared word holds a state this package never writes (another
	// process scribbled on it). The object should be considered lost.
	ErrCorrupt = fmt.Errorf("lock: corrupt shared state: %w", shm.ErrCorrupt)
	// ErrBadTimeout is returned for a negative timeout other than Forever: the same value in
	// every shmkit package.
	ErrBadTimeout = shdeadline.ErrBadTimeout
	// ErrBadArgs is returned for an argument out of range: a Barrier of 0 parties, a negative
	// semaphore value, a release of 0 units.
	ErrBadArgs = errors.New("lock: bad arguments")
)

// Forever, passed as a timeout, waits without a time bound.
const Forever = shdeadline.Forever

// Process ids are stored in 22 bits of the mutex word (internal/robust): Linux never hands out a
// pid at or above PID_MAX_LIMIT (4,194,304 = 1<<22) on any architecture.
const pidMask = robust.PidMask

// self is this process's pid, read once: Go programs do not fork without exec.
var self = robust.Self

// peerAlive reports whether the process that stored pid in an object of segment seg (nil: not
// known) is alive: pid and the start time seg's peer table records for it (see
// shm.Segment.PeerAlive), so a reused pid does not keep a dead process alive. Slow paths only.
func peerAlive(seg *shm.Segment, pid uint32) bool { return pid == self || seg.PeerAlive(int(pid)) }

// deadline is a wait's bound: a context (nil for none) and no time limit, a try, or a point in
// time; the project's one bound type. Left(limit) gives the next slice of a wait, or the reason
// to stop (ErrTimeout, or the context's error); Err names the operation in a timeout.
type deadline = shdeadline.D

// forever is the bound of the calls that wait without limit or context.
var forever deadline

// deadlineFor is the bound of a Timeout form: Forever waits without bound, 0 tries once, any other
// negative value is ErrBadTimeout (naming op).
func deadlineFor(op string, d time.Duration) (deadline, error) { return shdeadline.New(op, nil, d) }

// contextBound is the bound of a Context form.
func contextBound(ctx context.Context) deadline { return shdeadline.Ctx(ctx) }

// ended returns the error of dl's context when it has ended, nil otherwise.
func ended(dl deadline) error {
	if ctx := dl.Context(); ctx != nil {
		return ctx.Err()
	}
	return nil
}

// corrupt builds an ErrCorrupt error naming the object and the impossible value.
func corrupt(what string, v uint64) error {
	return fmt.Errorf("%w: %s word %#x", ErrCorrupt, what, v)
}

// openBlock resolves ref as a live heap block of kind with at least size bytes: the first step
// of every Open function (what names the type in errors).
func openBlock(ref shm.Ref, kind shm.Kind, size int, what string) ([]byte, error) {
	_, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return nil, fmt.Errorf("lock: open %s: %w", what, err)
	}
	if len(b) < size {
		return nil, fmt.Errorf("%w: %s block of %d bytes", ErrCorrupt, what, len(b))
	}
	return b, nil
}
