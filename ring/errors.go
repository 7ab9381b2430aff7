package ring

import (
	"errors"
	"fmt"

	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrClosed is returned by a call on a handle (Queue, QueueOf, JoinableQueue, Conn) after
	// that handle's own Close, and by calls blocked in it when it is closed. Other handles on the
	// same queue, in this process or another, are not affected.
	ErrClosed = errors.New("ring: use of a closed handle")

	// ErrShutdown is returned by Put on a queue shut down (Shutdown, by any process), by Get on
	// one that is empty, and by every call blocked on a queue when it is shut down.
	ErrShutdown = errors.New("ring: queue shut down")

	// ErrTimeout is returned when a bounded wait ends before it could proceed: the same value in
	// every shmkit package. It also matches os.ErrDeadlineExceeded and context.DeadlineExceeded.
	ErrTimeout = shdeadline.ErrTimeout

	// ErrTooLarge is returned by Put of a message larger than the queue's MaxMessage.
	ErrTooLarge = errors.New("ring: message larger than the queue's maximum")

	// ErrCorrupt is wrapped when shared state read from a ring is impossible (an index out of
	// range, a record header that does not parse). It wraps shm.ErrCorrupt.
	ErrCorrupt = fmt.Errorf("ring: corrupt ring: %w", shm.ErrCorrupt)

	// ErrBadTimeout is returned for a negative timeout other than Forever: the same value in
	// every shmkit package.
	ErrBadTimeout = shdeadline.ErrBadTimeout

	// ErrTaskDone is returned by JoinableQueue.TaskDone called more times than items were put.
	ErrTaskDone = errors.New("ring: TaskDone called more times than there were items")

	// ErrBadArgs is returned for options out of range. Every package names its bad-argument error
	// ErrBadArgs.
	ErrBadArgs = errors.New("ring: bad arguments")
)

// Forever, passed as a timeout, waits without a time bound: the same value in every shmkit
// package.
const Forever = shdeadline.Forever

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
