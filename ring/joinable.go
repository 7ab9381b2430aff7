package ring

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/shm"
)

var joinableKind shm.Kind

func init() {
	joinableKind = shm.RegisterKind("ring.JoinableQueue", func(r shm.Ref) (any, error) { return OpenJoinableQueue(r) })
}

// A JoinableQueue is a Queue that also counts unfinished tasks, as Python's JoinableQueue: every
// message put adds one, TaskDone takes one away, and Join waits until none is left.
//
// Peer death: a producer killed after it counted a message but before it reserved its record
// leaves the count one too high (Join then waits until its timeout); one killed after reserving
// it is corrected when a consumer skips the abandoned record. A producer killed inside Abort, or
// a consumer killed while it skips a dead producer's record, may leave the count one too high,
// never one too low: Join never returns while a task put is unfinished. A consumer killed before
// TaskDone leaves its task unfinished, as in Python.
type JoinableQueue struct {
	*Queue
}

// NewJoinableQueue creates a joinable queue in the default heap, or in opts.Heap; opts may be
// nil.
func NewJoinableQueue(opts *Options) (*JoinableQueue, error) {
	q, err := newQueue(opts, joinableKind, flagJoinable)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue{q}, nil
}

// OpenJoinableQueue returns a handle on the joinable queue that ref names.
func OpenJoinableQueue(ref shm.Ref) (*JoinableQueue, error) {
	q, err := openQueue(ref, joinableKind)
	if err != nil {
		return nil, err
	}
	if q.flags&flagJoinable == 0 {
		return nil, corrupt("joinable queue without its flag")
	}
	return &JoinableQueue{q}, nil
}

// Unfinished returns the number of tasks put and not yet marked done.
func (j *JoinableQueue) Unfinished() int { return int(atomic.LoadUint32(j.unfin)) }

// TaskDone marks one task, taken with Get, as finished; when none is left, Join returns in every
// process. Calling it more times than messages were put returns ErrTaskDone; on a closed handle,
// ErrClosed.
func (j *JoinableQueue) TaskDone() error {
	if j.Closed() {
		return ErrClosed
	}
	for {
		v := atomic.LoadUint32(j.unfin)
		if v == 0 {
			return ErrTaskDone
		}
		if atomic.CompareAndSwapUint32(j.unfin, v, v-1) {
			if v == 1 {
				j.join.signal()
			}
			return nil
		}
	}
}

// Join waits until every task put has been marked done (Shutdown does not end it; this handle's
// Close does, with ErrClosed).
func (j *JoinableQueue) Join() error { return j.join1(forever) }

// JoinTimeout is Join waiting at most d.
func (j *JoinableQueue) JoinTimeout(d time.Duration) error {
	dl, err := newDeadline(d)
	if err != nil {
		return err
	}
	return timeoutErr("ring: Join", d, j.join1(dl))
}

// JoinContext is Join waiting until ctx is done.
func (j *JoinableQueue) JoinContext(ctx context.Context) error {
	return j.join1(contextBound(ctx))
}

func (j *JoinableQueue) join1(dl deadline) error {
	for atomic.LoadUint32(j.unfin) != 0 {
		if j.Closed() {
			return ErrClosed
		}
		if _, err := j.join.park(&dl, func() bool { return atomic.LoadUint32(j.unfin) == 0 || j.Closed() }); err != nil {
			return err
		}
	}
	return nil
}
