package lock_test

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

var (
	_ = proc.Register(recursiveIncrement)
	_ = proc.Register(recursiveHoldUntilKilled)
)

// recursiveIncrement adds 1 to word 0 n times, each under two levels of r.
func recursiveIncrement(r *lock.RecursiveLock, c *cell, n int) error {
	awaitStart(c)
	for range n {
		if err := r.Lock(); err != nil {
			return err
		}
		if err := r.Lock(); err != nil {
			return err
		}
		incr(c, 0)
		if err := r.Unlock(); err != nil {
			return err
		}
		if err := r.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// recursiveHoldUntilKilled takes r three levels deep, sets word 1, and sleeps until killed.
func recursiveHoldUntilKilled(r *lock.RecursiveLock, c *cell) error {
	for range 3 {
		if err := r.Lock(); err != nil {
			return err
		}
	}
	c.Set(1, 1)
	time.Sleep(time.Hour)
	return nil
}

func TestRecursiveLockMutualExclusion(t *testing.T) {
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	c := newCell(t)
	const n = 100_000
	p := start(t, recursiveIncrement, r, c, n)
	c.WaitFor(t, 5, 1)
	c.Set(3, 1)
	require.NoError(t, recursiveIncrement(r, c, n))
	joinOK(t, p)
	require.Equal(t, uint32(2*n), c.Get(0))
	require.Equal(t, 0, r.Owner())
}

func TestRecursiveLockReentrancy(t *testing.T) {
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	require.ErrorIs(t, r.Unlock(), lock.ErrNotOwner)
	require.NoError(t, r.Lock())
	ok, err := r.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, r.LockTimeout(0))
	require.Equal(t, 3, r.Depth())
	// Another goroutine of the owning process re-enters too: the owner is the process.
	done := make(chan error)
	go func() { done <- r.LockTimeout(time.Second) }()
	require.NoError(t, <-done)
	require.Equal(t, 4, r.Depth())
	for range 4 {
		require.NoError(t, r.Unlock())
	}
	require.Equal(t, 0, r.Depth())
	require.ErrorIs(t, r.Unlock(), lock.ErrNotOwner)
	require.ErrorIs(t, r.LockTimeout(-7), lock.ErrBadTimeout)
}

func TestRecursiveLockOtherProcessWaits(t *testing.T) {
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	c := newCell(t)
	p := start(t, recursiveHoldUntilKilled, r, c)
	c.WaitFor(t, 1, 1)
	ok, err := r.TryLock()
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, r.LockTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.ErrorIs(t, r.Unlock(), lock.ErrNotOwner)
	killJoin(t, p)
	require.NoError(t, r.Lock())
	require.True(t, r.Recovered())
	require.Equal(t, 1, r.Depth())
	require.NoError(t, r.Unlock())
}

func TestRecursiveLockCorrupt(t *testing.T) {
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	w := shm.Word64(raw(t, r), 0)
	for _, bad := range []uint64{uint64(os.Getpid()), 1 << 22, 5 << 32, 0xfff00000} {
		atomic.StoreUint64(w, bad)
		require.ErrorIs(t, r.Lock(), lock.ErrCorrupt, "%#x", bad)
		require.ErrorIs(t, r.Unlock(), lock.ErrCorrupt, "%#x", bad)
	}
	atomic.StoreUint64(w, 0)
}

func TestRecursiveLockOwnerDies(t *testing.T) {
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	c := newCell(t)
	killWhileWaiting(t, c, 100, func() error { return r.LockTimeout(deadBound) }, r.Recovered, func() {
		require.Equal(t, 1, r.Depth())
		require.NoError(t, r.Unlock())
	}, recursiveHoldUntilKilled, r, c)
}
