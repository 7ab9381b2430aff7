// Package pool runs registered Go functions in a pool of worker processes, as Python's
// multiprocessing.Pool does, and survives the death of any of them.
//
//	var _ = pool.Register(square) // at package level: a worker is this binary, re-executed
//
//	func square(x int) (int, error) { return x * x, nil }
//
//	func main() {
//		proc.Main() // first statement: in a worker, runs the worker and exits
//		p, err := pool.New(&pool.Options{Workers: 4})
//		...
//		squares, err := pool.Map(p, square, []int{1, 2, 3})
//		p.Close()
//		p.Join()
//	}
//
// # Calls
//
// Map, Imap, ImapUnordered, Apply and their async forms take a function registered with Register,
// of the form func(A) (R, error); Starmap takes one registered with RegisterFunc, of any number of
// parameters. Closures and unregistered functions are refused at the call (ErrNotRegistered), as
// are arguments the codec cannot encode and bad chunk sizes (ErrBadArgs): nothing fails later in a
// worker for a reason the caller could have been told. Pointer-free fixed-size A and R travel as
// raw bytes; other types through the project's codec (CBOR with limits).
//
// Items go to workers in chunks (ChunkSize; by default Python's len/(4*workers), rounded up, for
// the list calls, and 1 for Imap). Results come back one message per item.
//
// # Errors
//
// A task that returns an error or panics fails alone, with a *TaskError carrying the worker's
// message (and stack); its worker carries on. A task whose worker dies fails with a
// *WorkerDiedError (errors.Is(err, ErrWorkerDied)) naming the pid, the signal or exit code, the
// task's index and the last lines of the worker's stderr — or, with Options.Retries, runs again
// in another worker. The list calls return every other item's result beside an *ItemsError.
//
// # Worker death
//
// Each worker has its own task ring and result ring (single producer, single consumer) in shared
// memory, and a word in the pool's state block where it stores, with a sequentially consistent
// store, the id of each item before it runs it. The pool, in this process, holds the list of
// chunks given to each worker and not yet answered. When the worker dies, proc's reaper closes
// its Done channel, which ends the pool's wait on the result ring at once (no polling); the pool
// takes every result the worker published before it died, and then compares the first
// unanswered item with the worker's word: if they are the same item, it was running and is lost
// (or retried); if not, the worker died between taking a chunk and starting that item, and that
// item and the rest are given to another worker, never lost. A new worker is started in the dead
// one's place. Every other call is untouched.
//
// # Shutdown
//
// Close ends new calls and lets the calls made before it finish; Join waits for the workers to
// exit and frees the pool's shared memory (Join before Close is ErrNotClosed, as in Python).
// Terminate kills the workers at once, fails what was unfinished with ErrTerminated, and waits
// as Join does. Afterwards no worker process and no shared memory of the pool is left. Workers are
// daemons: if this process dies, however it dies, they end with it.
package pool
