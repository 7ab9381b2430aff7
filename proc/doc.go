// Package proc starts and supervises child processes that run Go functions, as Python's
// multiprocessing.Process does.
//
// Go has no safe fork(): a child here is the same binary, re-executed, told by its start-up
// descriptors which registered target to run with which arguments. So
//
//   - proc.Main() is the first statement of main (and of TestMain): in a child it runs the target
//     and exits; in the parent it returns at once. A child whose main does not call it runs the
//     program's own main instead: it stops at its first Start (exit status ExitCodeStartFailed,
//     with a message saying to call Main) rather than start a copy of itself, and the parent's
//     Wait reports it (ExitError.SkippedMain), even when it exited 0;
//   - main should end with Shutdown (deferred, before any os.Exit), as Python joins its
//     children at exit: it waits, with a bound, for the non-daemon children, then ends what is
//     left, so that no child outlives the program unnoticed;
//   - targets are registered (Register) from package-level variables or init functions, so the
//     child has them registered too before it reaches Main; closures are refused, since what they
//     capture cannot follow them;
//   - arguments, and a Runner target's value, are encoded and decoded (package internal/codec,
//     CBOR with limits), except shared objects (anything implementing shm.Shared: locks, events,
//     values, queues, pipe ends), which cross as Refs and are rebuilt in the child over the same
//     shared memory, wherever they sit: an argument itself, a field of a Runner target or of a
//     struct argument, an element of a slice, array or map, behind a pointer, in an interface
//     field. Every anonymous segment the parent has open, the default heap among them, is
//     inherited as a descriptor. What cannot cross whole makes Start fail with ErrBadArgs naming
//     the field, never a child with an empty object: chans and funcs, unexported fields (tag one
//     `cbor:"-"` to leave it behind), a shared object by value (lock.Event rather than
//     *lock.Event), a shared object inside a struct held in an interface;
//   - an *os.File (a pipe end, a socket, an open file), wherever it sits as above, is handed to
//     the child as a descriptor, as Python passes a Connection: the child's *os.File is its own
//     descriptor of the same open file. The parent keeps its own and may close it after Start;
//   - a number given for a parameter of another number type is converted at Start when it fits
//     exactly (2.0 for an int; 300 for an int8, 2.5 for an int, -1 for a uint are refused with
//     ErrBadArgs); a float64 given for a float32 is rounded, as Go rounds a constant.
//
// Children are reaped as soon as they exit. Daemon children watch a lifeline pipe whose write end
// only the parent holds: when the parent dies, however it dies, the kernel closes it and the
// daemon exits at once. Lifecycle events are logged through log/slog when SHMKIT_LOG is set or
// LogToStderr is called.
//
// Wait returns nil when the child's target returned nil and an *ExitError saying how it ended
// otherwise, as exec.Cmd.Wait does; Join only waits (read ExitCode afterwards), as Python's join.
// Blocking calls take a timeout (Forever for none; 0 to just look; another negative one is
// ErrBadTimeout) or a context: Join, JoinContext, WaitTimeout, WaitContext.
package proc
