package lock

import (
	"context"
	"fmt"
	"time"

	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/shm"
)

// A Lock's (and a RecursiveLock's) heap block: the 8-byte mutex word (see mutex.go), then its
// hold stamp (internal/robust: since when, at least, the holder has held it; blocks made before
// the stamp existed have 8 bytes and no stamp).
const (
	lockSize  = 16
	lockStamp = 8
	lockMin   = 8
)

var lockKind shm.Kind

func init() {
	lockKind = shm.RegisterKind("lock.Lock", func(r shm.Ref) (any, error) { return OpenLock(r) })
}

// A Lock is a mutual-exclusion lock shared between processes: Python's multiprocessing.Lock. It
// lives in one 64-byte heap block, a single 64-bit word holding the owner's pid and a waiters
// bit; it reaches child processes as a Ref (pass it to proc.Start, or OpenLock its Ref).
//
// The owner is a process, not a goroutine: any goroutine of the process that holds the Lock may
// release it (as Python lets any thread release a Lock), and a goroutine that calls Lock while
// another goroutine of its own process holds it waits like any other caller (a Lock is not
// re-entrant; see RecursiveLock).
//
// Acquiring an unheld Lock is one compare-and-swap, releasing it one more; a futex syscall happens
// only when a waiter is parked. Waiters spin briefly, then park; the goroutines of one process
// queue on a Go channel and only one of them parks in the kernel, so thousands of blocked
// goroutines hold one OS thread.
//
// Memory ordering: everything a process wrote before Unlock is visible to the process whose
// Lock returns next (the word is only accessed with sequentially consistent atomics).
//
// If the owning process dies holding the Lock, a waiter notices within about 100 ms (by probing
// the owner's pid) and takes the Lock over: its Lock returns nil, as for any acquisition, and
// Recovered reports true until the Unlock, since what the Lock guards may be half-updated. Do
// hands that fact to the function it runs. See alive for the limits of pid probing (pid reuse,
// pid namespaces).
//
// Every acquiring method returns an error only when the caller does not hold the Lock, so the
// reflex "if err != nil { return err }" never leaves it held.
//
// A Lock is safe for concurrent use by any number of goroutines and processes.
type Lock struct {
	ref shm.Ref
	m   mutex
}

// NewLock allocates an unlocked Lock in the process's default heap (inherited by children), or in
// the heap that In names.
func NewLock(opts ...Option) (*Lock, error) {
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(lockSize, lockKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new Lock: %w", err)
	}
	return OpenLock(ref)
}

// OpenLock returns the Lock that ref names, in this or any process that maps its segment. It
// fails with shm.ErrBadRef for a Ref that is not a live "lock.Lock".
func OpenLock(ref shm.Ref) (*Lock, error) {
	b, err := openBlock(ref, lockKind, lockMin, "Lock")
	if err != nil {
		return nil, err
	}
	return &Lock{ref: ref, m: newMutex(b, lockStamp, kindLock)}, nil
}

// Lock acquires the Lock, waiting as long as it takes. It returns nil holding the Lock, also when
// it took the Lock over from a process that died holding it (then Recovered is true). It fails,
// without the Lock, only with ErrCorrupt.
func (l *Lock) Lock() error {
	return l.m.LockForever()
}

// LockTimeout is Lock bounded by d: it returns an error matching ErrTimeout (naming the call and
// d), without the Lock, when d passes first. d == 0 tries once (as TryLock, with an error);
// d == Forever waits without bound; any other negative d is ErrBadTimeout.
func (l *Lock) LockTimeout(d time.Duration) error {
	if d < 0 && d != Forever {
		return shdeadline.Check("lock: Lock", d)
	}
	if l.m.Fast() {
		return nil
	}
	dl, err := deadlineFor("lock: Lock", d)
	if err != nil {
		return err
	}
	return dl.Err("lock: Lock", acquired(l.m.Lock(dl)))
}

// LockContext is Lock bounded by ctx: it returns ctx.Err(), without the Lock, when ctx ends
// first.
func (l *Lock) LockContext(ctx context.Context) error {
	if l.m.Fast() {
		return nil
	}
	return acquired(l.m.Lock(contextBound(ctx)))
}

// TryLock acquires the Lock if it is free, or if its owner has died (then Recovered is true), and
// never blocks. It reports whether the caller now holds the Lock; an error (ErrCorrupt) comes
// with false.
func (l *Lock) TryLock() (bool, error) {
	if l.m.Fast() {
		return true, nil
	}
	return tried(l.m.Try(true))
}

// Recovered reports whether this process holds the Lock and took it over from a process that died
// holding it: the state the Lock guards may be half-updated, and should be checked or repaired
// before Unlock, which clears the mark. It reads the shared word, so any goroutine of the holding
// process sees the same answer; it is false in every other process.
func (l *Lock) Recovered() bool { return l.m.Recovered() }

// Do runs fn holding the Lock, and releases the Lock when fn returns or panics: the form of Lock
// that cannot be mishandled. ownerDied is Recovered: the Lock was taken over from a process that
// died holding it, so fn should check or repair what it guards first. Do returns the error that
// kept it from taking the Lock (then fn did not run), or fn's error, joined with Unlock's if that
// failed (fn released the Lock itself).
func (l *Lock) Do(fn func(ownerDied bool) error) error {
	return do(l.Lock, l.Unlock, l.Recovered, fn)
}

// Unlock releases the Lock. It returns ErrNotOwner when the Lock is free or held by another
// process; any goroutine of the owning process may call it.
func (l *Lock) Unlock() error {
	return l.m.Unlock()
}

// Locked reports whether some process holds the Lock (a snapshot, for tests and diagnostics).
func (l *Lock) Locked() bool { return l.m.Owner() != 0 }

// Owner returns the pid of the process holding the Lock, 0 when it is free (a snapshot).
func (l *Lock) Owner() int { return int(l.m.Owner()) }

// Ref returns the Lock's Ref, by which another process opens it.
func (l *Lock) Ref() shm.Ref { return l.ref }

// Free returns the Lock's memory to its heap. Call it once, when no process uses the Lock any
// more; using the Lock (here or in another process) after Free is undefined: the block may be
// reused by another object.
func (l *Lock) Free() error { return shm.Free(l.ref) }
