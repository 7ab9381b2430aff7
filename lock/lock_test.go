package lock_test

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

var (
	_ = proc.Register(lockIncrement)
	_ = proc.Register(lockHoldUntilKilled)
	_ = proc.Register(lockHoldFor)
	_ = proc.Register(lockWaitThenMark)
)

// lockIncrement adds 1 to word 0 of c n times under l, once word 3 (the start flag) is set;
// word 5 counts the processes ready to start.
func lockIncrement(l *lock.Lock, c *cell, n int) error {
	awaitStart(c)
	for range n {
		if err := l.Lock(); err != nil {
			return err
		}
		incr(c, 0)
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// lockHoldUntilKilled takes l, says so in word 1 and sleeps until killed.
func lockHoldUntilKilled(l *lock.Lock, c *cell) error {
	if err := l.Lock(); err != nil {
		return err
	}
	c.Set(1, 1)
	time.Sleep(time.Hour)
	return nil
}

// lockHoldFor takes l, sets word 1, holds it until word 2 is set, then releases it.
func lockHoldFor(l *lock.Lock, c *cell) error {
	if err := l.Lock(); err != nil {
		return err
	}
	c.Set(1, 1)
	for c.Get(2) == 0 {
		time.Sleep(time.Millisecond)
	}
	return l.Unlock()
}

// lockWaitThenMark sets word 1, blocks in Lock, then sets word 2 and releases.
func lockWaitThenMark(l *lock.Lock, c *cell) error {
	c.Set(1, 1)
	if err := l.Lock(); err != nil {
		return err
	}
	c.Set(2, 1)
	return l.Unlock()
}

func TestLockMutualExclusion(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	const n = 100_000
	p := start(t, lockIncrement, l, c, n)
	c.WaitFor(t, 5, 1)
	c.Set(3, 1)
	require.NoError(t, lockIncrement(l, c, n))
	joinOK(t, p)
	require.Equal(t, uint32(2*n), c.Get(0))
	require.False(t, l.Locked())
}

// Goroutines of two processes at once: 2 processes × 4 goroutines × 20,000.
func TestLockGoroutinesAndProcesses(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	const n, g = 20_000, 4
	var kids []*proc.Process
	for range g {
		p := start(t, lockIncrement, l, c, n)
		kids = append(kids, p)
	}
	c.WaitFor(t, 5, g)
	c.Set(3, 1)
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() { require.NoError(t, lockIncrement(l, c, n)) })
	}
	wg.Wait()
	for _, p := range kids {
		joinOK(t, p)
	}
	require.Equal(t, uint32(2*g*n), c.Get(0))
}

func TestLockWakeup(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	require.NoError(t, l.Lock())
	p := start(t, lockWaitThenMark, l, c)
	c.WaitFor(t, 1, 1)
	time.Sleep(20 * time.Millisecond) // let it park
	require.Equal(t, uint32(0), c.Get(2), "the child got a held lock")
	require.NoError(t, l.Unlock())
	c.WaitFor(t, 2, 1)
	joinOK(t, p)
}

func TestLockTimeoutAndTry(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	p := start(t, lockHoldFor, l, c)
	c.WaitFor(t, 1, 1)

	ok, err := l.TryLock()
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, l.LockTimeout(0), lock.ErrTimeout)
	require.ErrorIs(t, l.LockTimeout(30*time.Millisecond), lock.ErrTimeout)
	require.ErrorIs(t, l.LockTimeout(-2), lock.ErrBadTimeout)
	require.ErrorIs(t, l.Unlock(), lock.ErrNotOwner, "unlock of a lock another process holds")
	require.Equal(t, p.Pid(), l.Owner())

	c.Set(2, 1)
	require.NoError(t, l.LockTimeout(10*time.Second))
	joinOK(t, p)
	ok, err = l.TryLock()
	require.NoError(t, err)
	require.False(t, ok, "TryLock of a lock this process holds")
	require.NoError(t, l.Unlock())
	ok, err = l.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Unlock())
}

func TestLockMisuse(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	require.ErrorIs(t, l.Unlock(), lock.ErrNotOwner)

	// Any goroutine of the owning process may release it.
	require.NoError(t, l.Lock())
	done := make(chan error)
	go func() { done <- l.Unlock() }()
	require.NoError(t, <-done)
	require.ErrorIs(t, l.Unlock(), lock.ErrNotOwner)

	e, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, e)
	_, err = lock.OpenLock(e.Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)
	_, err = lock.OpenLock(shm.Ref{})
	require.ErrorIs(t, err, shm.ErrBadRef)
}

func TestLockCorrupt(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	w := shm.Word64(raw(t, l), 0)
	for _, bad := range []uint64{
		1 << 22,                   // waiters bit without an owner
		1<<22 | 1<<23,             // waiters and recovered without an owner
		1 << 24,                   // a start time without an owner
		1 << 40,                   // a start time without an owner
		0xffffffff &^ (1<<22 - 1), // every bit but the pid's
	} {
		atomic.StoreUint64(w, bad)
		require.ErrorIs(t, l.Lock(), lock.ErrCorrupt, "%#x", bad)
		require.ErrorIs(t, l.LockTimeout(time.Second), lock.ErrCorrupt, "%#x", bad)
		_, err := l.TryLock()
		require.ErrorIs(t, err, lock.ErrCorrupt, "%#x", bad)
		require.ErrorIs(t, l.Unlock(), lock.ErrCorrupt, "%#x", bad)
	}
	atomic.StoreUint64(w, 0)
	require.NoError(t, l.Lock())
	require.NoError(t, l.Unlock())
}

func TestLockOwnerDies(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	killWhileWaiting(t, c, 100, func() error { return l.LockTimeout(deadBound) }, l.Recovered, func() {
		require.Equal(t, os.Getpid(), l.Owner())
		require.NoError(t, l.Unlock())
	}, lockHoldUntilKilled, l, c)
}

// 10,000 goroutines blocked on one held Lock hold a handful of OS threads, and all get it.
func TestLockTenThousandWaiters(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	require.NoError(t, l.Lock())
	const n = 10_000
	var entered, done atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			entered.Add(1)
			if err := l.Lock(); err != nil {
				t.Error(err)
				return
			}
			done.Add(1)
			if err := l.Unlock(); err != nil {
				t.Error(err)
			}
		})
	}
	for entered.Load() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let them get past their spin and block
	blocked := threads(t)
	t.Logf("%d goroutines blocked on one Lock; OS threads: %d", n, blocked)
	require.Less(t, blocked, 64, "threads grow with waiters")
	require.Equal(t, int64(0), done.Load())
	require.NoError(t, l.Unlock())
	wg.Wait()
	require.Equal(t, int64(n), done.Load())
	require.False(t, l.Locked())
}

// Goroutines blocked on an Event, a Semaphore and an RWLock's read side hold few OS threads too.
func TestManyWaitersFewThreads(t *testing.T) {
	e, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, e)
	s, err := lock.NewSemaphore(0)
	require.NoError(t, err)
	freeAtEnd(t, s)
	rw, err := lock.NewRWLock()
	require.NoError(t, err)
	freeAtEnd(t, rw)
	require.NoError(t, rw.Lock())
	const n = 3000
	var entered, done atomic.Int64
	var wg sync.WaitGroup
	for i := range 3 * n {
		wg.Go(func() {
			entered.Add(1)
			var err error
			switch i % 3 {
			case 0:
				err = e.Wait()
			case 1:
				err = s.Acquire()
			case 2:
				if err = rw.RLock(); err == nil {
					err = rw.RUnlock()
				}
			}
			if err != nil {
				t.Error(err)
			}
			done.Add(1)
		})
	}
	for entered.Load() < 3*n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	blocked := threads(t)
	t.Logf("%d goroutines blocked on an Event, a Semaphore and an RWLock; OS threads: %d", 3*n, blocked)
	require.Less(t, blocked, 64)
	require.Equal(t, int64(0), done.Load())
	require.NoError(t, e.Set())
	require.NoError(t, s.ReleaseN(n))
	require.NoError(t, rw.Unlock())
	wg.Wait()
	require.Equal(t, int64(3*n), done.Load())
}

var _ = proc.Register(lockHammer)

// lockHammer takes and releases l in a tight loop, counting in word 0, until word 2 is set.
func lockHammer(l *lock.Lock, c *cell) error {
	c.Set(1, 1)
	for c.Get(2) == 0 {
		if err := l.Lock(); err != nil {
			return err
		}
		incr(c, 0)
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// A process hammering the Lock does not keep another from getting it: the Lock is not fair, but
// a parked waiter is woken at each release and wins soon enough.
func TestLockNotStarved(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c := newCell(t)
	p := start(t, lockHammer, l, c)
	c.WaitFor(t, 1, 1)
	for i := range 200 {
		require.NoError(t, l.LockTimeout(10*time.Second), "acquisition %d", i)
		before := c.Get(0)
		time.Sleep(100 * time.Microsecond)
		require.Equal(t, before, c.Get(0), "the hammer ran while we held the lock")
		require.NoError(t, l.Unlock())
		time.Sleep(time.Millisecond)
	}
	c.Set(2, 1)
	joinOK(t, p)
	require.NotZero(t, c.Get(0))
}
