package lock_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(rwWorker)
	_ = proc.Register(rwWriteUntilKilled)
	_ = proc.Register(rwReadUntilKilled)
	_ = proc.Register(rwReadersLoop)
)

// rwWorker does n rounds: every 4th a write (words 0 and 1 incremented together), otherwise a
// read that checks words 0 and 1 are equal; word 6 counts torn reads.
func rwWorker(rw *lock.RWLock, c *cell, n int) error {
	awaitStart(c)
	for i := range n {
		if i%4 == 0 {
			if err := rw.Lock(); err != nil {
				return err
			}
			incr(c, 0)
			runtime.Gosched()
			incr(c, 1)
			if err := rw.Unlock(); err != nil {
				return err
			}
			continue
		}
		if err := rw.RLock(); err != nil {
			return err
		}
		if c.Get(0) != c.Get(1) {
			atomic.AddUint32(c.W32(6), 1)
		}
		if err := rw.RUnlock(); err != nil {
			return err
		}
	}
	return nil
}

func rwWriteUntilKilled(rw *lock.RWLock, c *cell) error {
	if err := rw.Lock(); err != nil {
		return err
	}
	c.Set(1, 1)
	time.Sleep(time.Hour)
	return nil
}

func rwReadUntilKilled(rw *lock.RWLock, c *cell) error {
	if err := rw.RLock(); err != nil {
		return err
	}
	c.Set(1, 1)
	time.Sleep(time.Hour)
	return nil
}

// rwReadersLoop keeps 4 goroutines taking overlapping read locks until word 2 is set.
func rwReadersLoop(rw *lock.RWLock, c *cell) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for c.Get(2) == 0 {
				if err := rw.RLock(); err != nil {
					errs <- err
					return
				}
				atomic.AddUint32(c.W32(1), 1)
				time.Sleep(100 * time.Microsecond)
				if err := rw.RUnlock(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func TestRWLockExclusion(t *testing.T) {
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	c := newCell(t)
	const n = 40_000
	p := start(t, rwWorker, rw, c, n)
	c.WaitFor(t, 5, 1)
	c.Set(3, 1)
	require.NoError(t, rwWorker(rw, c, n))
	joinOK(t, p)
	require.Equal(t, uint32(2*n/4), c.Get(0))
	require.Equal(t, c.Get(0), c.Get(1))
	require.Equal(t, uint32(0), c.Get(6), "torn reads")
	require.Equal(t, 0, rw.Readers())
}

func TestRWLockWriterNotStarved(t *testing.T) {
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	c := newCell(t)
	p := start(t, rwReadersLoop, rw, c)
	require.True(t, waitUntil(func() bool { return c.Get(1) >= 100 })) // readers are streaming
	for range 20 {
		require.NoError(t, rw.LockTimeout(20*time.Second))
		require.Equal(t, 0, rw.Readers())
		require.NoError(t, rw.Unlock())
	}
	c.Set(2, 1)
	joinOK(t, p)
}

func TestRWLockTimeoutTryMisuse(t *testing.T) {
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	require.ErrorIs(t, rw.Unlock(), lock.ErrNotOwner)
	require.ErrorIs(t, rw.RUnlock(), lock.ErrNotOwner)
	require.NoError(t, rw.RLock())
	require.NoError(t, rw.RLock())
	require.Equal(t, 2, rw.Readers())
	ok, err := rw.TryLock()
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, rw.LockTimeout(20*time.Millisecond), lock.ErrTimeout)
	ok, err = rw.TryRLock()
	require.NoError(t, err)
	require.True(t, ok, "a timed-out writer no longer blocks readers")
	for range 3 {
		require.NoError(t, rw.RUnlock())
	}
	require.ErrorIs(t, rw.RUnlock(), lock.ErrNotOwner)
	require.NoError(t, rw.LockTimeout(0))
	ok, err = rw.TryRLock()
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, rw.RLockTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.ErrorIs(t, rw.RLockTimeout(-1*time.Second), lock.ErrBadTimeout)
	// A reader blocked behind the writer wakes when it leaves.
	got := make(chan error, 1)
	go func() { got <- rw.RLockTimeout(10 * time.Second) }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, rw.Unlock())
	require.NoError(t, <-got)
	require.NoError(t, rw.RUnlock())
}

func TestRWLockWriterDies(t *testing.T) {
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	c := newCell(t)
	killWhileWaiting(t, c, 100, func() error { return rw.LockTimeout(deadBound) }, rw.Recovered, func() {
		require.NoError(t, rw.Unlock())
	}, rwWriteUntilKilled, rw, c)
	// A reader waiting behind a writer that dies gets in, and learns that the writer died.
	c.Set(1, 0)
	p := start(t, rwWriteUntilKilled, rw, c)
	c.WaitFor(t, 1, 1)
	killJoin(t, p)
	require.NoError(t, rw.RLockTimeout(10*time.Second))
	require.True(t, rw.Recovered())
	require.NoError(t, rw.RUnlock())
}

func TestRWLockReaderDies(t *testing.T) {
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	c := newCell(t)
	for i := range 20 {
		c.Set(1, 0)
		p := start(t, rwReadUntilKilled, rw, c)
		c.WaitFor(t, 1, 1)
		killJoin(t, p)
		require.NoErrorf(t, rw.LockTimeout(10*time.Second), "iteration %d", i)
		require.Equal(t, 0, rw.Readers())
		require.False(t, rw.Recovered(), "a dead reader changed nothing")
		require.NoError(t, rw.Unlock())
	}
}
