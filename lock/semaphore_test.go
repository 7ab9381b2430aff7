package lock_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

var (
	_ = proc.Register(semUseRoom)
	_ = proc.Register(semHoldUntilKilled)
)

// semUseRoom enters the room guarded by s n times: word 0 counts who is inside, word 1 the most
// ever inside at once, word 2 the entries.
func semUseRoom(s *lock.Semaphore, c *cell, n int) error {
	awaitStart(c)
	for range n {
		if err := s.Acquire(); err != nil {
			return err
		}
		in := atomic.AddUint32(c.W32(0), 1)
		for {
			m := c.Get(1)
			if in <= m || atomic.CompareAndSwapUint32(c.W32(1), m, in) {
				break
			}
		}
		atomic.AddUint32(c.W32(2), 1)
		for range 20 {
			runtime.Gosched()
		}
		atomic.AddUint32(c.W32(0), ^uint32(0))
		if err := s.Release(); err != nil {
			return err
		}
	}
	return nil
}

// semHoldUntilKilled takes k units of s, sets word 1, and sleeps until killed.
func semHoldUntilKilled(s *lock.Semaphore, c *cell, k int) error {
	for range k {
		if err := s.Acquire(); err != nil {
			return err
		}
	}
	c.Set(1, 1)
	time.Sleep(time.Hour)
	return nil
}

func TestSemaphoreLimitsTheRoom(t *testing.T) {
	s, err := lock.NewSemaphore(2)
	require.NoError(t, err)
	freeAtEnd(t, s)
	c := newCell(t)
	const n, procs = 2000, 4
	var kids []*proc.Process
	for range procs {
		p := start(t, semUseRoom, s, c, n)
		kids = append(kids, p)
	}
	c.WaitFor(t, 5, procs)
	c.Set(3, 1)
	for _, p := range kids {
		joinOK(t, p)
	}
	require.Equal(t, uint32(n*procs), c.Get(2))
	// At most 2 at once (how often 2 overlapped depends on the scheduler, so only the bound is
	// checked).
	require.LessOrEqual(t, c.Get(1), uint32(2), "most inside at once")
	require.Equal(t, 2, s.Value())
}

func TestSemaphoreTimeoutTryAndWakeup(t *testing.T) {
	s, err := lock.NewSemaphore(1)
	require.NoError(t, err)
	freeAtEnd(t, s)
	ok, err := s.TryAcquire()
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.TryAcquire()
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, s.AcquireTimeout(0), lock.ErrTimeout)
	require.ErrorIs(t, s.AcquireTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.ErrorIs(t, s.AcquireTimeout(-5), lock.ErrBadTimeout)
	got := make(chan error)
	go func() { got <- s.AcquireTimeout(10 * time.Second) }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Release())
	require.NoError(t, <-got)
	require.Equal(t, 0, s.Value())
	require.NoError(t, s.ReleaseN(3))
	require.Equal(t, 3, s.Value())
	require.ErrorIs(t, s.ReleaseN(0), lock.ErrBadArgs)
}

func TestBoundedSemaphore(t *testing.T) {
	b, err := lock.NewBoundedSemaphore(2)
	require.NoError(t, err)
	freeAtEnd(t, b)
	require.ErrorIs(t, b.Release(), lock.ErrOverRelease)
	require.NoError(t, b.Acquire())
	require.ErrorIs(t, b.ReleaseN(2), lock.ErrOverRelease)
	require.NoError(t, b.Release())
	require.ErrorIs(t, b.Release(), lock.ErrOverRelease)
	require.Equal(t, 2, b.Value())

	_, err = lock.NewSemaphore(-1)
	require.ErrorIs(t, err, lock.ErrBadArgs)
	_, err = lock.NewBoundedSemaphore(0)
	require.ErrorIs(t, err, lock.ErrBadArgs)
	_, err = lock.OpenSemaphore(b.Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)

	w := shm.Word32(raw(t, b), 0)
	atomic.StoreUint32(w, 7) // above the bound of 2
	require.ErrorIs(t, b.Acquire(), lock.ErrCorrupt)
	require.ErrorIs(t, b.Release(), lock.ErrCorrupt)
	atomic.StoreUint32(w, 2)
}

func TestSemaphoreHolderDies(t *testing.T) {
	s, err := lock.NewSemaphore(1)
	require.NoError(t, err)
	freeAtEnd(t, s)
	c := newCell(t)
	killWhileWaiting(t, c, 100, func() error { return s.AcquireTimeout(deadBound) }, nil, func() {
		require.Equal(t, 0, s.Value())
		require.NoError(t, s.Release())
	}, semHoldUntilKilled, s, c, 1)
}

// A bounded semaphore gets a dead holder's units back, never above its bound.
func TestBoundedSemaphoreHolderDies(t *testing.T) {
	b, err := lock.NewBoundedSemaphore(3)
	require.NoError(t, err)
	freeAtEnd(t, b)
	c := newCell(t)
	p := start(t, bsemHoldUntilKilled, b, c, 3)
	c.WaitFor(t, 1, 1)
	require.Equal(t, 0, b.Value())
	killJoin(t, p)
	require.NoError(t, b.AcquireTimeout(10*time.Second))
	require.Equal(t, 2, b.Value())
	require.NoError(t, b.Release())
	require.ErrorIs(t, b.Release(), lock.ErrOverRelease)
}

var _ = proc.Register(bsemHoldUntilKilled)

func bsemHoldUntilKilled(b *lock.BoundedSemaphore, c *cell, k int) error {
	return semHoldUntilKilled(&b.Semaphore, c, k)
}

// A BoundedSemaphore's embedded Semaphore is a *Semaphore whose Ref names a BoundedSemaphore: a
// child could not rebuild it as a *Semaphore, so Start refuses it rather than the child failing.
func TestEmbeddedSemaphoreRefusedAtStart(t *testing.T) {
	bs, err := lock.NewBoundedSemaphore(1)
	require.NoError(t, err)
	freeAtEnd(t, bs)
	c := newCell(t)
	_, err = proc.Start(semHoldUntilKilled, &bs.Semaphore, c, 1)
	require.ErrorIs(t, err, proc.ErrBadArgs)
	require.ErrorContains(t, err, "rebuilds a *lock.BoundedSemaphore")
	s, err := lock.NewSemaphore(1)
	require.NoError(t, err)
	freeAtEnd(t, s)
	p, err := proc.Start(semHoldUntilKilled, s, c, 0) // the same call with a real *Semaphore starts
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(10*time.Second))
}
