package lock_test

import (
	"context"
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
	_ = proc.Register(eventWaiter)
	_ = proc.Register(eventPong)
)

// eventWaiter sets word 1, waits for e, then sets word 2.
func eventWaiter(e *lock.Event, c *cell) error {
	c.Set(1, 1)
	if err := e.WaitTimeout(20 * time.Second); err != nil {
		return err
	}
	c.Set(2, 1)
	return nil
}

// eventPong answers n pings: wait ping, clear it, set pong.
func eventPong(ping, pong *lock.Event, n int) error {
	for range n {
		if err := ping.WaitTimeout(20 * time.Second); err != nil {
			return err
		}
		if err := ping.Clear(); err != nil {
			return err
		}
		if err := pong.Set(); err != nil {
			return err
		}
	}
	return nil
}

func TestEventWakesProcesses(t *testing.T) {
	e, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, e)
	c1, c2 := newCell(t), newCell(t)
	p1 := start(t, eventWaiter, e, c1)
	p2 := start(t, eventWaiter, e, c2)
	// Goroutines of this process wait too.
	var woke atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if e.Wait() == nil {
				woke.Add(1)
			}
		})
	}
	c1.WaitFor(t, 1, 1)
	c2.WaitFor(t, 1, 1)
	time.Sleep(20 * time.Millisecond)
	require.False(t, e.IsSet())
	require.Zero(t, c1.Get(2)+c2.Get(2))
	require.NoError(t, e.Set())
	require.True(t, e.IsSet())
	wg.Wait()
	require.Equal(t, int32(100), woke.Load())
	joinOK(t, p1)
	joinOK(t, p2)
	require.Equal(t, uint32(1), c1.Get(2))
	require.Equal(t, uint32(1), c2.Get(2))
}

func TestEventTimeoutAndClear(t *testing.T) {
	e, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, e)
	require.ErrorIs(t, e.WaitTimeout(0), lock.ErrTimeout)
	require.ErrorIs(t, e.WaitTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.ErrorIs(t, e.WaitTimeout(-3), lock.ErrBadTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, e.WaitContext(ctx), context.DeadlineExceeded)
	require.NoError(t, e.Set())
	require.NoError(t, e.Set())
	require.NoError(t, e.WaitTimeout(0))
	require.NoError(t, e.Wait())
	require.NoError(t, e.Clear())
	require.False(t, e.IsSet())
	require.ErrorIs(t, e.WaitTimeout(10*time.Millisecond), lock.ErrTimeout)
}

func TestEventPingPong(t *testing.T) {
	ping, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, ping)
	pong, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, pong)
	const n = 2000
	p := start(t, eventPong, ping, pong, n)
	for i := range n {
		require.NoError(t, ping.Set())
		require.NoError(t, pong.WaitTimeout(20*time.Second), "round %d", i)
		require.NoError(t, pong.Clear())
	}
	joinOK(t, p)
}

func TestEventCorrupt(t *testing.T) {
	e, err := lock.NewEvent()
	require.NoError(t, err)
	freeAtEnd(t, e)
	w := shm.Word32(raw(t, e), 0)
	atomic.StoreUint32(w, 0x10)
	require.ErrorIs(t, e.Wait(), lock.ErrCorrupt)
	require.ErrorIs(t, e.Set(), lock.ErrCorrupt)
	require.ErrorIs(t, e.Clear(), lock.ErrCorrupt)
	_, err = lock.OpenEvent(newCell(t).Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)
}
