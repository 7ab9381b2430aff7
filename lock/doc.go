// Package lock provides synchronisation primitives shared between processes, as Python's
// multiprocessing offers them: Lock, RecursiveLock (Python's RLock), Event, Condition, Semaphore,
// BoundedSemaphore and Barrier, plus a readers-writer RWLock. Each one lives in a block of a
// shared heap (package shm) and reaches other processes as a Ref: pass it to proc.Start, or
// rebuild it with its OpenX function. Constructors allocate in the process's default heap, which
// children inherit, or in the heap that the option In names: NewLock(In(h)).
//
// # Cost
//
// Every primitive is built on 32-bit futex words. An acquisition or release that finds no
// contention is a single atomic compare-and-swap (Lock, RecursiveLock) or a few atomic operations
// (Semaphore, RWLock), with no syscall. A waiter spins briefly (2 to 200 µs, adapted to how its
// recent waits went), then parks in the kernel; a futex wake syscall is made only when the shared
// word says some process is parked.
// Goroutines of one process blocked on one object share one OS thread parked in the kernel
// (park.Gate, and a per-process turnstile for mutex-like objects): 10,000 goroutines blocked on a
// Lock are 10,000 goroutines, not 10,000 threads.
//
// # Timeouts and contexts
//
// Every blocking call has a bounded form: LockTimeout, WaitTimeout, AcquireTimeout... take a
// duration; 0 tries once without blocking, Forever waits without bound, any other negative value
// is ErrBadTimeout. A timeout matches ErrTimeout (the same value in every shmkit package) and
// names the call and the duration ("lock: Lock: timed out after 250ms"). Every call that can
// block on another process also has a Context form (LockContext, RLockContext, AcquireContext,
// WaitContext...), which returns ctx.Err() when the context ends first. TryLock and its kin never
// block.
//
// # Owners, and processes that die
//
// The owner of a Lock, of a RecursiveLock and of the write side of an RWLock is a process, identified by
// its pid, which is stored in the shared word. Any goroutine of the owning process may release
// what its process holds. Unlike CPython, Boost.Interprocess and the Go peers, which leave a lock
// held forever when its holder dies, a waiter here checks whether the owner process still exists
// (kill(pid, 0), and /proc for zombies) after each slice of its wait; if the owner died, the
// waiter takes the lock over, as pthread robust mutexes do. The state the lock protected may be
// half-updated: the new holder should check or repair it before releasing.
//
// Every acquiring call (Lock, LockTimeout, TryLock, RLock, Acquire...) returns an error only when
// the caller does not hold what it asked for, so the Go reflex is right:
//
//	if err := l.Lock(); err != nil {
//		return err // not held: nothing to release
//	}
//	defer l.Unlock()
//	if l.Recovered() {
//		// the previous holder died holding l: repair what it guards
//	}
//
// A takeover from a dead owner is a successful acquisition; the lock records it in its shared
// word, and Recovered reports it to the holding process until the release. Do is the form that
// cannot be mishandled: it runs a function under the lock, hands it the fact, and releases the
// lock however the function ends:
//
//	err := l.Do(func(ownerDied bool) error {
//		if ownerDied {
//			repair()
//		}
//		return update()
//	})
//
// Semaphores and RWLock readers count units per process in a small table so that a dead
// process's units come back; Barrier waiters record their pids so that a dead party breaks the
// barrier. A Condition's Wait never changes whether the caller holds its Lock. Each type's
// documentation says exactly what is and is not detected.
//
// Pid probing has two limits: a pid reused by a new process before a waiter probes it looks
// alive (Linux hands pids out cyclically up to pid_max, 4,194,304 on 64-bit systems, so this
// needs the pid space to wrap while a lock is held by a dead process); and every process sharing
// a lock must live in the same pid namespace.
//
// # Shared memory is untrusted
//
// Any process mapping a segment can write to it. A word in a state this package never writes
// (an owner pid of 0 with other bits set, bits above the 22-bit pid, a count above its bound) is
// reported as ErrCorrupt, never a hang, a panic or an access out of bounds.
//
// # Memory ordering
//
// Every shared word is read and written with sync/atomic (sequentially consistent). Whatever a
// process wrote before releasing a Lock, RecursiveLock, RWLock, Semaphore unit or setting an Event is
// visible to the process that acquires it or whose wait returns because of it.
package lock
