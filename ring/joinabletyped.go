package ring

import (
	"context"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// A JoinableQueueOf is a JoinableQueue of values of type T: the typed Put and Get of a QueueOf,
// and the TaskDone and Join of a JoinableQueue, over one shared queue. It passes to another
// process as itself (a target's *ring.JoinableQueueOf[T] parameter). Ordering, blocking, Close,
// Shutdown, task counting and peer-death behaviour are the JoinableQueue's.
type JoinableQueueOf[T any] struct {
	*QueueOf[T]
	j *JoinableQueue
}

// NewJoinableQueueOf creates a joinable queue of T in the default heap, or in opts.Heap; opts may
// be nil.
func NewJoinableQueueOf[T any](opts *Options) (*JoinableQueueOf[T], error) {
	j, err := NewJoinableQueue(opts)
	if err != nil {
		return nil, err
	}
	return &JoinableQueueOf[T]{QueueOf: AsQueueOf[T](j.Queue), j: j}, nil
}

// OpenJoinableQueueOf returns a handle on the joinable queue that ref names, as a queue of T.
func OpenJoinableQueueOf[T any](ref shm.Ref) (*JoinableQueueOf[T], error) {
	j, err := OpenJoinableQueue(ref)
	if err != nil {
		return nil, err
	}
	return &JoinableQueueOf[T]{QueueOf: AsQueueOf[T](j.Queue), j: j}, nil
}

// AttachRef makes the zero JoinableQueueOf t a handle on the joinable queue ref names (as
// OpenJoinableQueueOf). It is how package proc rebuilds a child's *JoinableQueueOf[T] parameter.
func (t *JoinableQueueOf[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenJoinableQueueOf[T](ref)
	if err != nil {
		return err
	}
	*t = *o
	return nil
}

// JoinableQueue returns the underlying byte queue.
func (t *JoinableQueueOf[T]) JoinableQueue() *JoinableQueue { return t.j }

// TaskDone marks one task, taken with Get, as finished; see JoinableQueue.TaskDone.
func (t *JoinableQueueOf[T]) TaskDone() error { return t.j.TaskDone() }

// Join waits until every task put has been marked done; see JoinableQueue.Join.
func (t *JoinableQueueOf[T]) Join() error { return t.j.Join() }

// JoinTimeout is Join waiting at most d.
func (t *JoinableQueueOf[T]) JoinTimeout(d time.Duration) error { return t.j.JoinTimeout(d) }

// JoinContext is Join waiting until ctx is done.
func (t *JoinableQueueOf[T]) JoinContext(ctx context.Context) error { return t.j.JoinContext(ctx) }

// Unfinished returns the number of tasks put and not yet marked done.
func (t *JoinableQueueOf[T]) Unfinished() int { return t.j.Unfinished() }
