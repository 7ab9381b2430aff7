package lock_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(barrierRounds)
	_ = proc.Register(barrierWaitUntilKilled)
	_ = proc.Register(barrierExpectBroken)
)

// barrierRounds passes b rounds times; word 0 collects the arrival indexes as a bit set per
// round (bit idx of word 8+round), word 1 counts the actions run.
func barrierRounds(b *lock.Barrier, c *cell, rounds int) error {
	b.SetAction(func() error { incr(c, 1); return nil }) // runs under the Barrier's mutex
	for r := range rounds {
		idx, err := b.WaitTimeout(20 * time.Second)
		if err != nil {
			return err
		}
		atomic.OrUint32(c.W32(8+r), 1<<idx)
	}
	return nil
}

// barrierWaitUntilKilled sets word 1 and waits on b until killed.
func barrierWaitUntilKilled(b *lock.Barrier, c *cell) error {
	c.Set(1, 1)
	_, err := b.Wait()
	return err
}

// barrierExpectBroken waits on b and succeeds only if the wait fails with ErrBroken.
func barrierExpectBroken(b *lock.Barrier, c *cell) error {
	atomic.AddUint32(c.W32(2), 1)
	if _, err := b.WaitTimeout(20 * time.Second); !errors.Is(err, lock.ErrBroken) {
		return errors.New("wanted ErrBroken, got " + errString(err))
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestBarrierRounds(t *testing.T) {
	b, err := lock.NewBarrier(3, nil)
	require.NoError(t, err)
	freeAtEnd(t, b)
	c := newCell(t)
	const rounds = 40
	p1 := start(t, barrierRounds, b, c, rounds)
	p2 := start(t, barrierRounds, b, c, rounds)
	require.NoError(t, barrierRounds(b, c, rounds))
	joinOK(t, p1)
	joinOK(t, p2)
	for r := range rounds {
		require.Equal(t, uint32(0b111), c.Get(8+r), "round %d indexes", r)
	}
	require.Equal(t, uint32(rounds), c.Get(1), "one action per round")
	require.Equal(t, 3, b.Parties())
	require.False(t, b.Broken())
}

func TestBarrierAbortResetTimeout(t *testing.T) {
	b, err := lock.NewBarrier(3, nil)
	require.NoError(t, err)
	freeAtEnd(t, b)
	c := newCell(t)
	p := start(t, barrierExpectBroken, b, c)
	c.WaitFor(t, 2, 1)
	require.True(t, waitUntil(func() bool { return b.NWaiting() == 1 }))
	require.NoError(t, b.Abort())
	joinOK(t, p)
	require.True(t, b.Broken())
	_, err = b.Wait()
	require.ErrorIs(t, err, lock.ErrBroken)

	require.NoError(t, b.Reset())
	require.False(t, b.Broken())
	// Reset while a party waits: that party gets ErrBroken, the barrier stays usable.
	p = start(t, barrierExpectBroken, b, c)
	require.True(t, waitUntil(func() bool { return b.NWaiting() == 1 }))
	require.NoError(t, b.Reset())
	joinOK(t, p)
	require.False(t, b.Broken())

	_, err = b.WaitTimeout(20 * time.Millisecond)
	require.ErrorIs(t, err, lock.ErrTimeout)
	require.ErrorIs(t, err, lock.ErrBroken)
	require.True(t, b.Broken())
	require.NoError(t, b.Reset())
	_, err = b.WaitTimeout(-4)
	require.ErrorIs(t, err, lock.ErrBadTimeout)

	_, err = lock.NewBarrier(0, nil)
	require.ErrorIs(t, err, lock.ErrBadArgs)
	_, err = lock.NewBarrier(lock.MaxParties+1, nil)
	require.ErrorIs(t, err, lock.ErrBadArgs)

	one, err := lock.NewBarrier(1, func() error { return errors.New("no") })
	require.NoError(t, err)
	freeAtEnd(t, one)
	_, err = one.Wait()
	require.ErrorIs(t, err, lock.ErrBroken, "a failing action breaks the barrier")
}

// A party killed while it waits breaks the barrier for the others.
func TestBarrierPartyDies(t *testing.T) {
	for i := range 20 {
		b, err := lock.NewBarrier(3, nil)
		require.NoError(t, err)
		c := newCell(t)
		p := start(t, barrierWaitUntilKilled, b, c)
		c.WaitFor(t, 1, 1)
		require.True(t, waitUntil(func() bool { return b.NWaiting() == 1 }))
		got := make(chan error, 1)
		go func() { _, err := b.WaitTimeout(10 * time.Second); got <- err }()
		require.True(t, waitUntil(func() bool { return b.NWaiting() == 2 }))
		killJoin(t, p)
		err = <-got
		require.ErrorIs(t, err, lock.ErrBroken, "iteration %d", i)
		require.NotErrorIs(t, err, lock.ErrTimeout, "iteration %d: the death was not noticed", i)
		require.True(t, b.Broken())
		require.NoError(t, b.Free())
	}
}
