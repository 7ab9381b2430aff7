// Package proc starts and supervises child processes that run Go functions, as Python's
// multiprocessing.Process does.
//
// Go has no safe fork(): a child here is the same binary, re-executed, told by its start-up
// descriptors which registered target to run with which arguments. So
//
//   - proc.Main() is the first statement of main (and of TestMain): in a child it runs the target
//     and exits; in the parent it returns at once;
//   - targets are registered (Register) from package-level variables or init functions, so the
//     child has them registered too before it reaches Main; closures are refused, since what they
//     capture cannot follow them;
//   - arguments are encoded and decoded (package internal/codec, CBOR with limits), except shared
//     objects (anything implementing shm.Shared: locks, values, queues), which cross as Refs and
//     are rebuilt in the child over the same shared memory. Every anonymous segment the parent has
//     open, the default heap among them, is inherited as a descriptor;
//   - an *os.File argument (a pipe end, a socket, an open file) is handed to the child as a
//     descriptor, as Python passes a Connection: the child's parameter of type *os.File is its own
//     descriptor of the same open file. The parent keeps its own and may close it after Start.
//
// Children are reaped as soon as they exit. Daemon children watch a lifeline pipe whose write end
// only the parent holds: when the parent dies, however it dies, the kernel closes it and the
// daemon exits at once. Lifecycle events are logged through log/slog when SHMKIT_LOG is set or
// LogToStderr is called.
//
// Blocking calls take a timeout (Forever for none) or a context: Join and JoinContext.
package proc
