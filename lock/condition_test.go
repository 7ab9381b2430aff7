package lock_test

import (
	"context"
	"fmt"
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
	_ = proc.Register(condNotifyThenWait)
	_ = proc.Register(condWaitEpoch)
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
	c := newCondition(t)
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
	c := newCondition(t)
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
	c := newCondition(t)
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
	require.ErrorIs(t, c.Notify(0), lock.ErrBadArgs)
	require.NoError(t, c.Unlock())

	d, err := lock.OpenCondition(c.Ref())
	require.NoError(t, err)
	require.Equal(t, c.Locker().Ref(), d.Locker().Ref())
}

// A waiter killed inside Wait, first in line, does not swallow the notification meant for the
// live waiter behind it: Notify(1) is spent on the dead waiter's ticket, and the live waiter is
// woken all the same once a waiter notices the death.
func TestConditionWaiterDies(t *testing.T) {
	c := newCondition(t)
	cl := newCell(t)
	for round := range 5 {
		cl.Set(1, 0)
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
		require.NoError(t, c.Lock()) // the goroutine is inside Wait, behind the dead child
		require.NoError(t, c.Notify(1))
		require.NoError(t, c.Unlock())
		require.NoError(t, <-got, "round %d: the live waiter was not woken", round)
	}
}

// A process killed holding the Condition's Lock: a waiter re-acquiring it takes it over, and
// Recovered says so.
func TestConditionLockHolderDies(t *testing.T) {
	c := newCondition(t)
	cl := newCell(t)
	require.NoError(t, c.Lock())
	// The wait ends when the test cancels it, after the kill, never on a timer: a timeout that
	// fired before the child (slow to start on a loaded machine) took the Lock would re-acquire
	// it first and leave the child blocked, testing nothing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- c.WaitContext(ctx) }()
	require.True(t, waitUntil(func() bool { return c.Locker().Owner() == 0 }))
	p := start(t, condHoldUntilKilled, c, cl)
	cl.WaitFor(t, 2, 1)
	killJoin(t, p)
	cancel()
	require.ErrorIs(t, <-got, context.Canceled)
	require.True(t, c.Recovered())
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

// condNotifyThenWait is the child of CPython's test_waitfor, rounds times: once the parent says
// round i has begun (word 0 = i+1; the parent then holds the Lock until its Wait releases it), it
// takes the Lock, sets the state (word 1) to 2i+1, notifies once and, still holding the Lock,
// waits itself for the parent's answer (state 2i+2).
func condNotifyThenWait(c *lock.Condition, cl *cell, rounds int) error {
	for i := range rounds {
		for cl.Get(0) != uint32(i+1) {
			time.Sleep(50 * time.Microsecond)
		}
		if err := c.Lock(); err != nil {
			return err
		}
		cl.Set(1, uint32(2*i+1))
		if err := c.Notify(1); err != nil {
			c.Unlock()
			return err
		}
		if err := c.WaitFor(func() bool { return cl.Get(1) == uint32(2*i+2) }, 20*time.Second); err != nil {
			c.Unlock()
			return fmt.Errorf("round %d: %w", i, err)
		}
		if err := c.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// A notification goes to the waiter that was waiting when it was sent, not to the notifier's own
// later Wait (CPython's test_waitfor; issue 10 item 5).
func TestConditionNotifyThenWait(t *testing.T) {
	c := newCondition(t)
	cl := newCell(t)
	const rounds = 100
	p := start(t, condNotifyThenWait, c, cl, rounds)
	for i := range rounds {
		require.NoError(t, c.Lock())
		cl.Set(0, uint32(i+1))
		// The child can take the Lock only once this Wait has released it: the parent is waiting
		// before the child notifies.
		err := c.WaitFor(func() bool { return cl.Get(1) == uint32(2*i+1) }, 5*time.Second)
		require.NoErrorf(t, err, "round %d: the waiter that was waiting before Notify was not woken", i)
		cl.Set(1, uint32(2*i+2))
		require.NoError(t, c.NotifyAll())
		require.NoError(t, c.Unlock())
	}
	joinOK(t, p)
}

// condWaitEpoch waits once (word 2 counts the waiters, under the Lock) and records in word 10+id
// the epoch (word 3) it saw when its Wait returned; word 4 counts the waiters that returned.
func condWaitEpoch(c *lock.Condition, cl *cell, id int) error {
	if err := c.Lock(); err != nil {
		return err
	}
	incr(cl, 2)
	err := c.WaitTimeout(20 * time.Second)
	cl.Set(10+id, cl.Get(3))
	incr(cl, 4)
	if uerr := c.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// Notify(n) wakes n of the waiters that were waiting when it was sent, and NotifyAll every one of
// them, never one that began waiting afterwards.
func TestConditionNotifyWakesEarlierWaiters(t *testing.T) {
	c := newCondition(t)
	cl := newCell(t)
	const n = 4
	var kids []*proc.Process
	for id := range n {
		kids = append(kids, start(t, condWaitEpoch, c, cl, id))
	}
	cl.WaitFor(t, 2, n)
	// Every child counted itself under the Lock and then released it inside Wait.
	require.NoError(t, c.Lock())
	cl.Set(3, 1)
	require.NoError(t, c.Notify(2))
	// Later waiters, registered after the Notify, in this process and in a new child: none of
	// them may take what Notify(2) sent.
	require.ErrorIs(t, c.WaitTimeout(20*time.Millisecond), lock.ErrTimeout)
	require.NoError(t, c.Unlock())
	late := start(t, condWaitEpoch, c, cl, n)
	cl.WaitFor(t, 4, 2)
	cl.WaitFor(t, 2, n+1)
	require.NoError(t, c.Lock())
	cl.Set(3, 2)
	require.NoError(t, c.NotifyAll())
	require.ErrorIs(t, c.WaitTimeout(20*time.Millisecond), lock.ErrTimeout,
		"the notifier's own Wait after NotifyAll")
	require.NoError(t, c.Unlock())
	for _, p := range append(kids, late) {
		joinOK(t, p)
	}
	epochs := map[uint32]int{}
	for id := range n + 1 {
		epochs[cl.Get(10+id)]++
	}
	require.Equal(t, map[uint32]int{1: 2, 2: n - 1}, epochs, "epochs seen by the waiters")
	require.Equal(t, uint32(2), cl.Get(10+n), "the waiter that came after Notify(2)")
}

// A waiter that timed out while an older and a newer one still wait leaves a hole in the queue;
// Notify(1) must still wake a live waiter.
func TestConditionTimedOutWaiterLeavesNoGap(t *testing.T) {
	c := newCondition(t)
	for round := range 20 {
		registered := make(chan struct{}, 3)
		results := make(chan error, 2)
		wait := func(d time.Duration, out chan error) {
			if err := c.Lock(); err != nil {
				out <- err
				return
			}
			registered <- struct{}{}
			err := c.WaitTimeout(d)
			c.Unlock()
			out <- err
		}
		short := make(chan error, 1)
		go wait(30*time.Millisecond, short) // the oldest: will time out
		<-registered
		go wait(20*time.Second, results)
		<-registered
		require.NoError(t, c.Lock()) // both wait now
		require.NoError(t, c.Unlock())
		require.ErrorIs(t, <-short, lock.ErrTimeout, "round %d", round)
		require.NoError(t, c.Lock())
		require.NoError(t, c.Notify(1))
		require.NoError(t, c.Unlock())
		require.NoError(t, <-results, "round %d", round)
	}
}

// newCondition makes a Condition over a new Lock, both freed when the test ends.
func newCondition(t *testing.T) *lock.Condition {
	t.Helper()
	c, err := lock.NewCondition(nil)
	require.NoError(t, err)
	freeAtEnd(t, c.Locker())
	freeAtEnd(t, c)
	return c
}

var _ = proc.Register(condSetAndNotify)

// condSetAndNotify takes the Condition's lock, sets word 6 and notifies every waiter.
func condSetAndNotify(c *lock.Condition, cl *cell) error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	cl.Set(6, 1)
	return c.NotifyAll()
}

// A Condition over a RecursiveLock (Python's default): Wait releases every level this process
// holds, so another process can take the lock, and restores them. The default lock is a Lock.
func TestConditionRecursiveLock(t *testing.T) {
	require.IsType(t, &lock.Lock{}, newCondition(t).Locker(), "the default lock")
	r, err := lock.NewRecursiveLock()
	require.NoError(t, err)
	freeAtEnd(t, r)
	c, err := lock.NewCondition(r)
	require.NoError(t, err)
	freeAtEnd(t, c)
	d, err := lock.OpenCondition(c.Ref())
	require.NoError(t, err)
	require.IsType(t, r, d.Locker(), "a Condition opened from its Ref has the same kind of lock")
	cl := newCell(t)
	require.NoError(t, c.Lock())
	require.NoError(t, c.Lock())
	p := start(t, condSetAndNotify, c, cl)
	require.NoError(t, c.WaitFor(func() bool { return cl.Get(6) == 1 }, 20*time.Second))
	require.Equal(t, 2, r.Depth(), "Wait restores the depth")
	require.NoError(t, c.Unlock())
	require.NoError(t, c.Unlock())
	require.Zero(t, r.Owner())
	joinOK(t, p)

	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c2, err := lock.NewCondition(l)
	require.NoError(t, err)
	freeAtEnd(t, c2)
	require.Equal(t, l.Ref(), c2.Locker().Ref())
	require.IsType(t, l, c2.Locker())
}
