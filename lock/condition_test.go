package lock_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(condConsume)
	_ = proc.Register(condWaitUntilKilled)
	_ = proc.Register(condHoldUntilKilled)
)

// condConsume takes n items: waits until word 0 (the stock) is positive, takes one, and counts
// it in word 1; word 4 counts the consumers that started.
func condConsume(c *lock.Condition, cl *cell, n int) error {
	if err := c.Lock(); err != nil {
		return err
	}
	cl.Set(4, cl.Get(4)+1)
	for range n {
		if err := c.WaitFor(func() bool { return cl.Get(0) > 0 }, 20*time.Second); err != nil {
			c.Unlock()
			return err
		}
		cl.Set(0, cl.Get(0)-1)
		incr(cl, 1)
	}
	return c.Unlock()
}

// condWaitUntilKilled waits on c (word 1 says it is waiting) and is killed there.
func condWaitUntilKilled(c *lock.Condition, cl *cell) error {
	if err := c.Lock(); err != nil {
		return err
	}
	cl.Set(1, 1)
	err := c.WaitTimeout(time.Hour)
	c.Unlock()
	return err
}

// condHoldUntilKilled takes the Condition's Lock and is killed holding it.
func condHoldUntilKilled(c *lock.Condition, cl *cell) error {
	if err := c.Lock(); err != nil {
		return err
	}
	cl.Set(2, 1)
	time.Sleep(time.Hour)
	return nil
}

func TestConditionProducerConsumers(t *testing.T) {
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	cl := newCell(t)
	const per, consumers = 500, 2
	var kids []*proc.Process
	for range consumers {
		p := start(t, condConsume, c, cl, per)
		kids = append(kids, p)
	}
	cl.WaitFor(t, 4, consumers)
	for i := range per * consumers {
		require.NoError(t, c.Lock())
		incr(cl, 0)
		if i%2 == 0 {
			require.NoError(t, c.Notify(1))
		} else {
			require.NoError(t, c.NotifyAll())
		}
		require.NoError(t, c.Unlock())
	}
	for _, p := range kids {
		joinOK(t, p)
	}
	require.Equal(t, uint32(per*consumers), cl.Get(1))
	require.Equal(t, uint32(0), cl.Get(0))
}

func TestConditionNotifyCounts(t *testing.T) {
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	const n = 6
	results := make(chan error, n)
	var started sync.WaitGroup
	for range n {
		started.Add(1)
		go func() {
			if err := c.Lock(); err != nil {
				results <- err
				return
			}
			started.Done()
			err := c.WaitTimeout(10 * time.Second)
			c.Unlock()
			results <- err
		}()
	}
	started.Wait()
	require.NoError(t, c.Lock()) // every waiter has released the Lock inside Wait
	require.NoError(t, c.Notify(2))
	require.NoError(t, c.Unlock())
	for range 2 {
		require.NoError(t, <-results)
	}
	select {
	case err := <-results:
		t.Fatalf("Notify(2) woke a third waiter: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, c.Lock())
	require.NoError(t, c.NotifyAll())
	require.NoError(t, c.Unlock())
	for range n - 2 {
		require.NoError(t, <-results)
	}
}

func TestConditionTimeoutAndMisuse(t *testing.T) {
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	require.ErrorIs(t, c.Wait(), lock.ErrNotOwner)
	require.ErrorIs(t, c.Notify(1), lock.ErrNotOwner)
	require.ErrorIs(t, c.NotifyAll(), lock.ErrNotOwner)
	require.NoError(t, c.Lock())
	require.ErrorIs(t, c.WaitTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.Equal(t, c.Locker().Owner() > 0, true, "Wait re-acquires the Lock on timeout")
	require.ErrorIs(t, c.WaitTimeout(0), lock.ErrTimeout)
	require.ErrorIs(t, c.WaitTimeout(-9), lock.ErrBadTimeout)
	require.ErrorIs(t, c.WaitFor(func() bool { return false }, 20*time.Millisecond), lock.ErrTimeout)
	require.NoError(t, c.WaitFor(func() bool { return true }, 0))
	require.ErrorIs(t, c.Notify(0), lock.ErrBadArg)
	require.NoError(t, c.Unlock())

	d, err := lock.OpenCondition(c.Ref())
	require.NoError(t, err)
	require.Equal(t, c.Locker().Ref(), d.Locker().Ref())
}

// A waiter killed inside Wait does not keep a live waiter from being notified.
func TestConditionWaiterDies(t *testing.T) {
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	cl := newCell(t)
	p := start(t, condWaitUntilKilled, c, cl)
	cl.WaitFor(t, 1, 1)
	require.NoError(t, c.Lock()) // the child is inside Wait
	require.NoError(t, c.Unlock())
	killJoin(t, p)

	got := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		if err := c.Lock(); err != nil {
			got <- err
			return
		}
		close(ready)
		err := c.WaitTimeout(10 * time.Second)
		c.Unlock()
		got <- err
	}()
	<-ready
	require.NoError(t, c.Lock())
	require.NoError(t, c.Notify(1))
	require.NoError(t, c.Unlock())
	require.NoError(t, <-got)
}

// A process killed holding the Condition's Lock: a waiter re-acquiring it gets ErrOwnerDead.
func TestConditionLockHolderDies(t *testing.T) {
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	cl := newCell(t)
	require.NoError(t, c.Lock())
	got := make(chan error, 1)
	go func() { got <- c.WaitTimeout(200 * time.Millisecond) }()
	require.True(t, waitUntil(func() bool { return c.Locker().Owner() == 0 }))
	p := start(t, condHoldUntilKilled, c, cl)
	cl.WaitFor(t, 2, 1)
	killJoin(t, p)
	err = <-got
	require.True(t, errors.Is(err, lock.ErrOwnerDead), "%v", err)
	require.True(t, errors.Is(err, lock.ErrTimeout), "%v", err)
	require.NoError(t, c.Unlock())
}

func waitUntil(cond func() bool) bool {
	for range 10_000 {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}
