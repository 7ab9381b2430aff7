package lock_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
)

// cancelSoon returns a context that is cancelled once the caller has had time to block.
func cancelSoon(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	time.AfterFunc(20*time.Millisecond, cancel)
	return ctx
}

// Every call that can block on another process has a Context form, which returns ctx.Err(),
// without what it asked for, when the context ends first; and a Timeout form whose error names
// the call and the timeout.
func TestContextForms(t *testing.T) {
	c := newCell(t)
	t.Run("Lock", func(t *testing.T) {
		l, err := lock.NewLock()
		require.NoError(t, err)
		freeAtEnd(t, l)
		p := start(t, lockHoldUntilKilled, l, c)
		c.WaitFor(t, 1, 1)
		require.ErrorIs(t, l.LockContext(cancelSoon(t)), context.Canceled)
		require.Equal(t, p.Pid(), l.Owner())
		require.EqualError(t, l.LockTimeout(20*time.Millisecond), "lock: Lock: timed out after 20ms")
		killJoin(t, p)
		require.NoError(t, l.LockContext(context.Background()))
		require.NoError(t, l.Unlock())
	})
	t.Run("RecursiveLock", func(t *testing.T) {
		r, err := lock.NewRecursiveLock()
		require.NoError(t, err)
		freeAtEnd(t, r)
		c.Set(1, 0)
		p := start(t, recursiveHoldUntilKilled, r, c)
		c.WaitFor(t, 1, 1)
		require.ErrorIs(t, r.LockContext(cancelSoon(t)), context.Canceled)
		require.Zero(t, r.Depth())
		require.ErrorIs(t, r.LockTimeout(time.Millisecond), lock.ErrTimeout)
		killJoin(t, p)
	})
	t.Run("RWLock", func(t *testing.T) {
		rw, err := lock.NewRWLock()
		require.NoError(t, err)
		freeAtEnd(t, rw)
		c.Set(1, 0)
		p := start(t, rwWriteUntilKilled, rw, c)
		c.WaitFor(t, 1, 1)
		require.ErrorIs(t, rw.RLockContext(cancelSoon(t)), context.Canceled)
		require.ErrorIs(t, rw.LockContext(cancelSoon(t)), context.Canceled)
		require.Zero(t, rw.Readers())
		require.EqualError(t, rw.RLockTimeout(time.Millisecond), "lock: RWLock.RLock: timed out after 1ms")
		killJoin(t, p)
		c.Set(1, 0)
		p = start(t, rwReadUntilKilled, rw, c)
		c.WaitFor(t, 1, 1)
		require.ErrorIs(t, rw.LockContext(cancelSoon(t)), context.Canceled)
		ok, err := rw.TryRLock() // the writer that gave up let readers in again
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, rw.RUnlock())
		killJoin(t, p)
	})
	t.Run("Semaphore", func(t *testing.T) {
		s, err := lock.NewSemaphore(1)
		require.NoError(t, err)
		freeAtEnd(t, s)
		c.Set(1, 0)
		p := start(t, semHoldUntilKilled, s, c, 1)
		c.WaitFor(t, 1, 1)
		require.ErrorIs(t, s.AcquireContext(cancelSoon(t)), context.Canceled)
		require.Zero(t, s.Value())
		require.EqualError(t, s.AcquireTimeout(time.Millisecond), "lock: Semaphore.Acquire: timed out after 1ms")
		killJoin(t, p)
		require.NoError(t, s.AcquireContext(context.Background()))
		require.NoError(t, s.Release())
	})
	t.Run("Condition", func(t *testing.T) {
		cond := newCondition(t)
		require.NoError(t, cond.Lock())
		require.ErrorIs(t, cond.WaitContext(cancelSoon(t)), context.Canceled)
		require.Equal(t, os.Getpid(), cond.Locker().Owner(), "Wait returns holding the lock")
		require.ErrorIs(t, cond.WaitForContext(cancelSoon(t), func() bool { return false }), context.Canceled)
		require.EqualError(t, cond.WaitTimeout(time.Millisecond), "lock: Condition.Wait: timed out after 1ms")
		require.NoError(t, cond.Unlock())
	})
	t.Run("Barrier", func(t *testing.T) {
		b, err := lock.NewBarrier(2, nil)
		require.NoError(t, err)
		freeAtEnd(t, b)
		_, err = b.WaitContext(cancelSoon(t))
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, lock.ErrBroken)
		require.True(t, b.Broken())
	})
}
