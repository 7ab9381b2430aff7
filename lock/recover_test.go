package lock_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
)

// reflex takes and releases a lock the way Go code does by reflex: on an error, return it; once
// held, defer the release.
func reflex(acquire, release func() error) error {
	if err := acquire(); err != nil {
		return err
	}
	defer release()
	return nil
}

// killHolder starts holder(args...), waits until it says it holds (word flag of c), and kills it.
func killHolder(t *testing.T, c *cell, flag int, holder any, args ...any) {
	t.Helper()
	c.Set(flag, 0)
	p := start(t, holder, args...)
	c.WaitFor(t, flag, 1)
	killJoin(t, p)
}

// After a holder was killed, the reflexive caller gets no error and leaves nothing held: an
// acquisition returns an error only when the caller does not hold the lock (issue 11).
func TestReflexiveCallerAfterOwnerDied(t *testing.T) {
	c := newCell(t)
	t.Run("Lock", func(t *testing.T) {
		l, err := lock.NewLock()
		require.NoError(t, err)
		freeAtEnd(t, l)
		killHolder(t, c, 1, lockHoldUntilKilled, l, c)
		require.NoError(t, reflex(l.Lock, l.Unlock))
		require.False(t, l.Locked(), "the reflexive caller left the Lock held")
	})
	t.Run("RecursiveLock", func(t *testing.T) {
		r, err := lock.NewRecursiveLock()
		require.NoError(t, err)
		freeAtEnd(t, r)
		killHolder(t, c, 1, recursiveHoldUntilKilled, r, c)
		require.NoError(t, reflex(r.Lock, r.Unlock))
		require.Zero(t, r.Owner(), "the reflexive caller left the lock held")
	})
	t.Run("RWLock", func(t *testing.T) {
		rw, err := lock.NewRWLock()
		require.NoError(t, err)
		freeAtEnd(t, rw)
		killHolder(t, c, 1, rwWriteUntilKilled, rw, c)
		require.NoError(t, reflex(rw.RLock, rw.RUnlock))
		require.Zero(t, rw.Readers(), "the reflexive reader left a read lock held")
		killHolder(t, c, 1, rwWriteUntilKilled, rw, c)
		require.NoError(t, reflex(rw.Lock, rw.Unlock))
		ok, err := rw.TryRLock()
		require.NoError(t, err)
		require.True(t, ok, "the reflexive writer left the write lock held")
		require.NoError(t, rw.RUnlock())
		killHolder(t, c, 1, rwReadUntilKilled, rw, c)
		require.NoError(t, reflex(rw.Lock, rw.Unlock))
		require.Zero(t, rw.Readers())
	})
	t.Run("Semaphore", func(t *testing.T) {
		s, err := lock.NewSemaphore(1)
		require.NoError(t, err)
		freeAtEnd(t, s)
		killHolder(t, c, 1, semHoldUntilKilled, s, c, 1)
		require.NoError(t, reflex(s.Acquire, s.Release))
		require.Equal(t, 1, s.Value(), "the reflexive caller kept a unit")
	})
	t.Run("Condition", func(t *testing.T) {
		cond := newCondition(t)
		killHolder(t, c, 2, condHoldUntilKilled, cond, c)
		require.NoError(t, reflex(cond.Lock, cond.Unlock))
		require.Zero(t, cond.Locker().Owner(), "the reflexive caller left the Lock held")
	})
}

// Recovered reports the takeover from a dead holder to any goroutine of the new holder, until the
// release; Do hands it to its function and releases the lock even when the function panics.
func TestRecoveredAndDo(t *testing.T) {
	c := newCell(t)
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	killHolder(t, c, 1, lockHoldUntilKilled, l, c)
	var died []bool
	record := func(ownerDied bool) error { died = append(died, ownerDied); return nil }
	require.NoError(t, l.Do(record))
	require.NoError(t, l.Do(record))
	require.Equal(t, []bool{true, false}, died, "ownerDied once, then a clean Lock")
	require.False(t, l.Locked())

	killHolder(t, c, 1, lockHoldUntilKilled, l, c)
	ok, err := l.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	other := make(chan bool)
	go func() { other <- l.Recovered() }()
	require.True(t, <-other, "another goroutine of the holder sees Recovered")
	require.NoError(t, l.Unlock())
	require.False(t, l.Recovered(), "Unlock clears Recovered")

	require.PanicsWithValue(t, "boom", func() {
		l.Do(func(bool) error { panic("boom") })
	})
	require.False(t, l.Locked(), "Do released the Lock when fn panicked")
	require.ErrorIs(t, l.Do(func(bool) error { return lock.ErrBadArgs }), lock.ErrBadArgs)
	require.ErrorIs(t, l.Do(func(bool) error { return l.Unlock() }), lock.ErrNotOwner,
		"fn released the Lock itself: Do's Unlock fails")

	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	killHolder(t, c, 1, recursiveHoldUntilKilled, r, c)
	require.NoError(t, r.Lock())
	require.NoError(t, r.Do(func(ownerDied bool) error {
		require.True(t, ownerDied, "Recovered lasts while any level is held")
		require.Equal(t, 2, r.Depth())
		return nil
	}))
	require.NoError(t, r.Unlock())
	require.False(t, r.Recovered())

	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	killHolder(t, c, 1, rwWriteUntilKilled, rw, c)
	require.NoError(t, rw.RDo(func(ownerDied bool) error {
		require.True(t, ownerDied, "a reader learns that the writer died")
		return nil
	}))
	require.True(t, rw.Recovered(), "until a writer releases the lock")
	require.NoError(t, rw.Do(func(ownerDied bool) error {
		require.True(t, ownerDied)
		return nil
	}))
	require.False(t, rw.Recovered(), "the writer's Unlock clears it")
}
