package pool

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrWorkerDied is matched by the error of a task whose worker process ended while running
	// it (SIGKILL, the OOM killer, os.Exit, a crash in cgo). The error is a *WorkerDiedError.
	ErrWorkerDied = errors.New("pool: worker died")
	// ErrTaskFailed is matched by the error of a task that returned an error in its worker. The
	// error is a *TaskError carrying the worker's message.
	ErrTaskFailed = errors.New("pool: task failed")
	// ErrTaskPanicked is matched by the error of a task that panicked in its worker. The error is
	// a *TaskError carrying the panic's message and the worker's stack.
	ErrTaskPanicked = errors.New("pool: task panicked")
	// ErrClosed is returned by a call on a pool after Close or Terminate (Python's ValueError
	// "Pool not running").
	ErrClosed = errors.New("pool: pool is closed")
	// ErrTerminated is the error of every task that had not finished when Terminate was called.
	ErrTerminated = errors.New("pool: pool terminated")
	// ErrNotClosed is returned by Join before Close or Terminate, as Python's join raises.
	ErrNotClosed = errors.New("pool: Join before Close or Terminate")
	// ErrBroken is returned when workers cannot be started: replacements died one after another
	// before they were ready (an initializer that fails, a binary that no longer starts: three in
	// a row; ten when the last was a SIGKILL, usually someone else's doing). Pending tasks fail
	// with it and the pool accepts no more.
	ErrBroken = errors.New("pool: workers cannot be started")
	// ErrNotRegistered is returned at the call for a function that was not registered with
	// Register (or RegisterFunc), or cannot be: a closure or a method value.
	ErrNotRegistered = errors.New("pool: function not registered")
	// ErrBadArgs is returned at the call for arguments that do not fit the function or cannot be
	// encoded, and for bad options (a pool size or chunk size ≤ 0, a negative limit).
	ErrBadArgs = errors.New("pool: bad arguments")
	// ErrTaskTimeout is matched by the error of a task that ran past Options.TaskTimeout: one that
	// returned an error after its context was cancelled (a *TaskError), or one whose worker was
	// killed for it after Options.KillGrace more (a *WorkerDiedError, which matches ErrWorkerDied
	// too).
	ErrTaskTimeout = errors.New("pool: task ran past its time limit")
	// ErrNotReady is returned by AsyncResult.Successful before the result is ready.
	ErrNotReady = errors.New("pool: result not ready")
	// ErrCorrupt is the error of a task whose worker sent a message that does not parse: the
	// worker is killed and replaced. It wraps shm.ErrCorrupt.
	ErrCorrupt = fmt.Errorf("pool: corrupt message from a worker: %w", shm.ErrCorrupt)

	// ErrTimeout is matched by the error of a wait that ran out of time: the one value of every
	// shmkit package (and it matches os.ErrDeadlineExceeded and context.DeadlineExceeded).
	ErrTimeout = deadline.ErrTimeout
	// ErrBadTimeout is returned for a negative timeout other than Forever.
	ErrBadTimeout = deadline.ErrBadTimeout
)

// Forever, passed as a timeout, waits without a time bound.
const Forever = deadline.Forever

// errDecode marks a failure to decode a task's argument or encode its result in the worker.
var errDecode = errors.New("pool: encoding")

// A WorkerDiedError is the error of a task whose worker ended while running it. It matches
// ErrWorkerDied.
type WorkerDiedError struct {
	Pid      int    // the worker's process id
	ExitCode int    // its exit status, or the negative number of the signal that killed it
	Index    int    // the task's index in its call (0 for Apply)
	Attempts int    // how many workers the task was given to (1 without Options.Retries)
	Stderr   string // the last lines the worker wrote on its standard error, if any
	// Limit is set when the pool killed the worker because the task ran past its time limit
	// (Options.TaskTimeout plus Options.KillGrace); the error then matches ErrTaskTimeout too.
	Limit time.Duration
}

// Error says which worker ended how, in which task, and quotes its stderr.
func (e *WorkerDiedError) Error() string {
	var b strings.Builder
	if e.Limit > 0 {
		fmt.Fprintf(&b, "pool: task %d ran past its time limit of %v: its worker pid %d was killed", e.Index, e.Limit, e.Pid)
	} else {
		fmt.Fprintf(&b, "pool: worker pid %d %s while running task %d", e.Pid, describeExit(e.ExitCode), e.Index)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (attempt %d, every one ended so)", e.Attempts)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, "; its stderr ended with:\n%s", e.Stderr)
	}
	return b.String()
}

// Is makes a WorkerDiedError match ErrWorkerDied, and ErrTaskTimeout when it was killed for it.
func (e *WorkerDiedError) Is(target error) bool {
	return target == ErrWorkerDied || (target == ErrTaskTimeout && e.Limit > 0)
}

// A TaskError is the error of a task that returned an error or panicked in its worker: the
// worker's message (the error's text; Go error values do not cross processes), and for a panic
// the worker's stack. It matches ErrTaskFailed or ErrTaskPanicked.
type TaskError struct {
	Index   int    // the task's index in its call
	Pid     int    // the worker that ran it
	Message string // the error's text, or the panic's value
	Stack   string // for a panic: the worker goroutine's stack
	Panic   bool
	Timeout bool // the task failed after its soft time limit cancelled its context
}

// Error gives the task, the worker and the message (and the stack of a panic).
func (e *TaskError) Error() string {
	if e.Panic {
		return fmt.Sprintf("pool: task %d panicked in worker pid %d: %s\n%s", e.Index, e.Pid, e.Message, e.Stack)
	}
	return fmt.Sprintf("pool: task %d failed in worker pid %d: %s", e.Index, e.Pid, e.Message)
}

// Is makes a TaskError match ErrTaskFailed or ErrTaskPanicked, and ErrTaskTimeout for one that
// failed past its soft time limit.
func (e *TaskError) Is(target error) bool {
	return (target == ErrTaskPanicked && e.Panic) || (target == ErrTaskFailed && !e.Panic) ||
		(target == ErrTaskTimeout && e.Timeout)
}

// An ItemsError is returned by Map, MapAsync, Starmap and StarmapAsync when some items failed:
// the results of the others are returned beside it, at their indices. It matches (errors.Is)
// every error it holds, so errors.Is(err, ErrWorkerDied) tells whether any item was lost to a
// dead worker.
type ItemsError struct {
	Errs  map[int]error // by item index
	Total int           // items in the call
}

// Error counts the failed items and gives the first one's error.
func (e *ItemsError) Error() string {
	first := -1
	for i := range e.Errs {
		if first < 0 || i < first {
			first = i
		}
	}
	if first < 0 {
		return "pool: no item failed"
	}
	return fmt.Sprintf("pool: %d of %d items failed; item %d: %v", len(e.Errs), e.Total, first, e.Errs[first])
}

// Unwrap returns the items' errors, for errors.Is and errors.As.
func (e *ItemsError) Unwrap() []error {
	out := make([]error, 0, len(e.Errs))
	for _, err := range e.Errs {
		out = append(out, err)
	}
	return out
}
