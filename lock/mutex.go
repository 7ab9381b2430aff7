package lock

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/futex"
)

// The mutex word, shared by Lock, RecursiveLock, the writer side of RWLock and Barrier's internal lock. It
// is 64 bits, 8-aligned, little-endian; its low half is the futex word:
//
//	bits  0..21  owner pid (0: free)
//	bit   22     waiters: some process may be parked on the word (set by waiters, cleared by the
//	             release, which then wakes one)
//	bit   23     recovered: the owner took the mutex over from a process that died holding it
//	             (set by the takeover, cleared by the release)
//	bits 24..31  always 0
//	bits 32..63  RecursiveLock: recursion count (>= 1 while held); Lock: always 0
//
// Free is exactly 0. Every other state with pid 0, any of bits 24..31, a Lock with a count, or a
// held RecursiveLock with count 0 is impossible, and reported as ErrCorrupt.
const (
	mWaiters   = 1 << pidBits
	mRecovered = 1 << (pidBits + 1)
	mBadLow    = 0xffffffff &^ (pidMask | mWaiters | mRecovered)
	mOne       = 1 << 32 // one level of RecursiveLock recursion
)

// mutex is the process-local handle of a mutex word.
type mutex struct {
	w         *uint64
	lo        *uint32 // the low half of *w: the futex word
	loc       *local
	recursive bool
	what      string // "Lock", "RecursiveLock", ... for error messages
}

func newMutex(w *uint64, lo *uint32, recursive bool, what string) mutex {
	return mutex{w: w, lo: lo, loc: localFor(lo), recursive: recursive, what: what}
}

// check validates a mutex word.
func (m *mutex) check(v uint64) error {
	low, count := uint32(v), v>>32
	pid := low & pidMask
	switch {
	case low&mBadLow != 0,
		pid == 0 && v != 0,
		!m.recursive && count != 0,
		m.recursive && pid != 0 && count == 0:
		return corrupt(m.what, v)
	}
	return nil
}

// held is the word's value for this process holding the mutex once.
func (m *mutex) held() uint64 {
	if m.recursive {
		return uint64(self) | mOne
	}
	return uint64(self)
}

// tryOnce makes one attempt: take a free word, re-enter a RecursiveLock this process holds, or take over
// from an owner that died (only when checkDead). It never blocks. ok reports success; err is
// ErrOwnerDead (with ok: the takeover, which the word records as recovered; public methods turn it
// into nil, see acquired) or a corruption/overflow error (without).
func (m *mutex) tryOnce(checkDead bool) (ok bool, err error) {
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.check(v); err != nil {
			return false, err
		}
		owner := uint32(v) & pidMask
		switch {
		case owner == 0:
			if atomic.CompareAndSwapUint64(m.w, 0, m.held()) {
				raceAcquire(m.loc)
				return true, nil
			}
			continue
		case owner == self && m.recursive:
			if v>>32 == 0xffffffff {
				return false, fmt.Errorf("%w: RecursiveLock recursion count overflow", ErrBadArg)
			}
			if atomic.CompareAndSwapUint64(m.w, v, v+mOne) {
				raceAcquire(m.loc)
				return true, nil
			}
			continue
		case checkDead && owner != self && !alive(owner):
			// Keep the waiters bit: others may be parked, and our release must wake them.
			if atomic.CompareAndSwapUint64(m.w, v, m.held()|mWaiters|mRecovered) {
				raceAcquire(m.loc)
				return true, fmt.Errorf("%w: %s owner pid %d", ErrOwnerDead, m.what, owner)
			}
			continue
		}
		return false, nil
	}
}

// lock is the slow path of every acquisition: spin, then take this process's turnstile and park
// on the word in slices, checking after each whether the owner still lives. A try (a deadline
// already passed) never parks but does take over from a dead owner. It returns the bare
// ErrTimeout, or the context's error, when dl ends first.
func (m *mutex) lock(dl deadline) error {
	if ok, err := m.tryOnce(true); ok || err != nil {
		return err
	}
	if _, err := dl.Left(Forever); err != nil {
		return err
	}
	var err error
	if m.loc.spin(func() bool {
		v := atomic.LoadUint64(m.w)
		if v != 0 && (!m.recursive || uint32(v)&pidMask != self) {
			return false
		}
		var ok bool
		ok, err = m.tryOnce(false)
		return ok || err != nil
	}) {
		return err
	}
	if err := m.loc.enter(dl); err != nil {
		return err
	}
	defer m.loc.leave()
	var b backoff
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.check(v); err != nil {
			return err
		}
		owner := uint32(v) & pidMask
		if owner == 0 || (m.recursive && owner == self) {
			// Whoever takes it after a wait sets the waiters bit: other processes may be parked.
			if owner == 0 && atomic.CompareAndSwapUint64(m.w, 0, m.held()|mWaiters) {
				raceAcquire(m.loc)
				return nil
			}
			if owner == self {
				if ok, err := m.tryOnce(false); ok || err != nil {
					return err
				}
			}
			continue
		}
		if v&mWaiters == 0 {
			if !atomic.CompareAndSwapUint64(m.w, v, v|mWaiters) {
				continue
			}
			v |= mWaiters
		}
		d, err := dl.Left(b.next())
		if err != nil {
			return err
		}
		err = m.loc.park(dl.Context(), m.lo, uint32(v), d)
		switch {
		case errors.Is(err, ErrTimeout):
			if owner != self && !alive(owner) {
				if ok, err := m.tryOnce(true); ok || err != nil {
					return err
				}
			}
		case ended(dl) != nil:
			return ended(dl)
		case err != nil:
			return fmt.Errorf("lock: futex wait: %w", err)
		}
	}
}

// lockForever is the slow path of Lock: kept out of line so that the fast path inlines.
func (m *mutex) lockForever() error { return acquired(m.lock(forever)) }

// unlock releases one hold (one level of a RecursiveLock), waking one parked process when the word had
// the waiters bit. Only the owning process may release.
func (m *mutex) unlock() error {
	raceRelease(m.loc)
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.check(v); err != nil {
			return err
		}
		owner := uint32(v) & pidMask
		if owner == 0 {
			return fmt.Errorf("%w: %s is not locked", ErrNotOwner, m.what)
		}
		if owner != self {
			return fmt.Errorf("%w: %s is held by pid %d", ErrNotOwner, m.what, owner)
		}
		var nv uint64
		if m.recursive && v>>32 > 1 {
			nv = v - mOne
		}
		if atomic.CompareAndSwapUint64(m.w, v, nv) {
			if nv == 0 && v&mWaiters != 0 {
				if _, err := futex.Wake(m.lo, 1); err != nil {
					return fmt.Errorf("lock: futex wake: %w", err)
				}
			}
			return nil
		}
	}
}

// unlockAll releases every level this process holds (a Condition's Wait) and returns how many
// there were.
func (m *mutex) unlockAll() (depth uint32, err error) {
	raceRelease(m.loc)
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.check(v); err != nil {
			return 0, err
		}
		if owner := uint32(v) & pidMask; owner != self {
			return 0, fmt.Errorf("%w: %s held by pid %d", ErrNotOwner, m.what, owner)
		}
		depth = 1
		if m.recursive {
			depth = uint32(v >> 32)
		}
		if atomic.CompareAndSwapUint64(m.w, v, 0) {
			if v&mWaiters != 0 {
				// Released whatever the wake does: a waiter that missed it wakes at the end of
				// its slice (the caller must know the mutex is free, not a wake error).
				futex.Wake(m.lo, 1)
			}
			return depth, nil
		}
	}
}

// relock takes the mutex again after unlockAll, without bound, and restores depth levels. It
// fails, without the mutex, only with ErrCorrupt.
func (m *mutex) relock(depth uint32) error {
	if err := m.lockForever(); err != nil {
		return err
	}
	if m.recursive && depth > 1 {
		atomic.AddUint64(m.w, uint64(depth-1)<<32)
	}
	return nil
}

// owner returns the pid recorded in the word (0: free).
func (m *mutex) owner() uint32 { return uint32(atomic.LoadUint64(m.w)) & pidMask }

// recovered reports whether this process holds the mutex and took it over from a dead owner.
func (m *mutex) recovered() bool {
	v := atomic.LoadUint64(m.w)
	return uint32(v)&pidMask == self && v&mRecovered != 0
}

// acquired turns the outcome of an acquisition into the package's contract: an error only when
// the caller does not hold the lock. A takeover from a dead owner (ErrOwnerDead from tryOnce or
// lock) is a success, which the word records (see Recovered).
func acquired(err error) error {
	if errors.Is(err, ErrOwnerDead) {
		return nil
	}
	return err
}

// tried is acquired for the Try forms.
func tried(ok bool, err error) (bool, error) {
	if errors.Is(err, ErrOwnerDead) {
		return true, nil
	}
	return ok && err == nil, err
}

// do runs fn between lock and unlock, telling it whether the lock was recovered from a dead
// owner; the unlock runs even if fn panics. See Lock.Do.
func do(lock, unlock func() error, recovered func() bool, fn func(ownerDied bool) error) (err error) {
	if err := lock(); err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	return fn(recovered())
}
