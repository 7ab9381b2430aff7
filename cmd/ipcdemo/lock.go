package main

import (
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

func init() {
	register(50, "lock", "Lock keeps a shared balance at 0; RecursiveLock, Event, Semaphore, Condition, Barrier; a dead holder", runLock)
}

// Child targets, registered at package level.
var (
	_ = proc.Register(changeBalance)
	_ = proc.Register(enterRoom)
	_ = proc.Register(signalReady)
	_ = proc.Register(useResource)
	_ = proc.Register(consumeItems)
	_ = proc.Register(meetAtBarrier)
	_ = proc.Register(holdAndDie)
)

// racyRounds is long: lost updates need the two processes on two CPUs at the same moment.
const racyRounds = 2_000_000

// changeBalance is the tutorial's change_it: balance = balance + n, then balance = balance - n,
// each a separate read and write of shared memory; with l (when not nil) around each change.
// Both workers and the parent meet at go first, so that the workers really run together.
func changeBalance(balance *value.RawValue[int64], l *lock.Lock, start *lock.Barrier, n int64) error {
	if _, err := start.WaitTimeout(10 * time.Second); err != nil {
		return err
	}
	if l == nil {
		for range racyRounds {
			balance.Store(balance.Load() + n)
			balance.Store(balance.Load() - n)
		}
		return nil
	}
	change := func(bool) error {
		balance.Store(balance.Load() + n)
		return balance.Store(balance.Load() - n)
	}
	for range racyRounds {
		if err := l.Do(change); err != nil {
			return err
		}
	}
	return nil
}

// runBalance runs changeBalance in two processes, with l or without a lock, and returns the
// balance.
func runBalance(l *lock.Lock) (int64, error) {
	balance, err := value.NewRawValue[int64](0)
	if err != nil {
		return 0, err
	}
	defer balance.Free()
	start, err := lock.NewBarrier(3, nil)
	if err != nil {
		return 0, err
	}
	defer start.Free()
	var ps []*proc.Process
	for _, n := range []int64{5, 8} {
		ps = append(ps, mustStart(changeBalance, balance, l, start, n))
	}
	if _, err := start.WaitTimeout(10 * time.Second); err != nil {
		return 0, err
	}
	if err := joinAll(ps...); err != nil {
		return 0, err
	}
	return balance.Load(), nil
}

// joinAll waits for every process and returns the first failure (an *proc.ExitError).
func joinAll(ps ...*proc.Process) error {
	for _, p := range ps {
		if err := p.WaitTimeout(30 * time.Second); err != nil {
			return err
		}
	}
	return nil
}

// enterRoom is "two tasks must not be in the room at once".
func enterRoom(l *lock.Lock, task string, times int) error {
	for range times {
		err := l.Do(func(bool) error {
			fmt.Printf("  %s enters the room (pid %d)\n", task, os.Getpid())
			time.Sleep(5 * time.Millisecond)
			fmt.Printf("  %s leaves the room\n", task)
			return nil
		})
		if err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond) // give the other task its turn
	}
	return nil
}

func signalReady(e *lock.Event) error {
	time.Sleep(20 * time.Millisecond) // get ready
	fmt.Printf("  child %d: ready, setting the event\n", os.Getpid())
	return e.Set()
}

// useResource holds one of the semaphore's units for a moment, and records how many processes
// were inside at once.
func useResource(s *lock.Semaphore, inside, most *value.RawValue[int32], id int) error {
	if err := s.Acquire(); err != nil {
		return err
	}
	defer s.Release()
	in := value.Add(inside, 1)
	for m := most.Load(); in > m; m = most.Load() {
		if ok, _ := most.CompareAndSwap(m, in); ok {
			break
		}
	}
	fmt.Printf("  worker %d uses the resource (%d inside)\n", id, in)
	time.Sleep(30 * time.Millisecond)
	value.Add(inside, -1)
	return nil
}

// consumeItems waits on the condition for n items, one at a time.
func consumeItems(c *lock.Condition, stock *value.RawValue[int32], n int) error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	for range n {
		if err := c.WaitFor(func() bool { return stock.Load() > 0 }, 10*time.Second); err != nil {
			return err
		}
		fmt.Printf("  consumer %d: took an item (%d left)\n", os.Getpid(), value.Add(stock, -1))
	}
	return nil
}

// meetAtBarrier waits at the barrier. The action is a Go func, which cannot cross to another
// process: each process sets its own, and the last party to arrive runs the one of its process.
func meetAtBarrier(b *lock.Barrier, name string) error {
	b.SetAction(barrierAction)
	i, err := b.WaitTimeout(10 * time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("  %s passed the barrier, arrival index %d\n", name, i)
	return nil
}

func barrierAction() error {
	fmt.Printf("  barrier action (in pid %d): all 3 parties arrived\n", os.Getpid())
	return nil
}

// holdAndDie takes the lock, starts a change it will never finish, and is killed.
func holdAndDie(l *lock.Lock, balance *value.RawValue[int64], holding *lock.Event) error {
	if err := l.Lock(); err != nil {
		return err
	}
	balance.Store(balance.Load() + 5) // the first half of change_it
	fmt.Printf("  child %d: holding the lock, balance %d... and crashing\n", os.Getpid(), balance.Load())
	holding.Set()
	time.Sleep(time.Hour) // killed here
	return nil
}

func runLock() error {
	// 1. The race: two processes change a shared balance without a lock; 2. the same with a Lock.
	b, err := runBalance(nil)
	if err != nil {
		return err
	}
	if b != 0 {
		fmt.Printf("without a lock: balance = %d after 2 × %d changes: updates were lost (it should be 0)\n", b, racyRounds)
	} else {
		fmt.Printf("without a lock: balance = 0 after 2 × %d changes: no update happened to be lost this time (the two processes did not interleave between a read and its write)\n", racyRounds)
	}
	l, err := lock.NewLock()
	if err != nil {
		return err
	}
	defer l.Free()
	if b, err = runBalance(l); err != nil {
		return err
	}
	fmt.Printf("with lock.Lock: balance = %d\n", b)
	if b != 0 {
		return fmt.Errorf("the lock did not keep the balance at 0")
	}

	// 3. Two tasks in the room, never together.
	fmt.Println("two tasks, one room:")
	if err := joinAll(mustStart(enterRoom, l, "task A", 2), mustStart(enterRoom, l, "task B", 2)); err != nil {
		return err
	}

	// 4. RecursiveLock (Python's RLock): the owning process may take it again.
	r, err := lock.NewRecursiveLock()
	if err != nil {
		return err
	}
	defer r.Free()
	r.Lock()
	r.Lock()
	fmt.Printf("RecursiveLock taken twice by this process: depth %d\n", r.Depth())
	r.Unlock()
	r.Unlock()

	// 5. Event: wait until a child says it is ready.
	e, err := lock.NewEvent()
	if err != nil {
		return err
	}
	defer e.Free()
	fmt.Printf("event.is_set() = %v; waiting for the child...\n", e.IsSet())
	p := mustStart(signalReady, e)
	if err := e.WaitTimeout(5 * time.Second); err != nil {
		return err
	}
	e.Clear()
	fmt.Printf("event set; after clear(): wait(10ms) -> %v\n", e.WaitTimeout(10*time.Millisecond))
	if err := joinAll(p); err != nil {
		return err
	}

	// 6. Semaphore(2): four workers, never more than two inside.
	s, err := lock.NewSemaphore(2)
	if err != nil {
		return err
	}
	defer s.Free()
	inside, _ := value.NewRawValue[int32](0)
	defer inside.Free()
	most, _ := value.NewRawValue[int32](0)
	defer most.Free()
	var ws []*proc.Process
	for i := range 4 {
		ws = append(ws, mustStart(useResource, s, inside, most, i))
	}
	if err := joinAll(ws...); err != nil {
		return err
	}
	fmt.Printf("Semaphore(2): at most %d workers inside at once\n", most.Load())

	// 7. Condition: a consumer waits for items that the producer announces with notify_all.
	c, err := lock.NewCondition(nil)
	if err != nil {
		return err
	}
	defer c.Locker().Free()
	defer c.Free()
	stock, _ := value.NewRawValue[int32](0)
	defer stock.Free()
	cons := mustStart(consumeItems, c, stock, 3)
	for i := range 3 {
		time.Sleep(10 * time.Millisecond)
		c.Lock()
		value.Add(stock, 1)
		fmt.Printf("  producer: made item %d, notify_all()\n", i+1)
		c.NotifyAll()
		c.Unlock()
	}
	if err := joinAll(cons); err != nil {
		return err
	}

	// 8. Barrier(3): three processes meet, the action runs once.
	bar, err := lock.NewBarrier(3, barrierAction)
	if err != nil {
		return err
	}
	defer bar.Free()
	ms := []*proc.Process{mustStart(meetAtBarrier, bar, "child 1"), mustStart(meetAtBarrier, bar, "child 2")}
	if err := meetAtBarrier(bar, "parent"); err != nil {
		return err
	}
	if err := joinAll(ms...); err != nil {
		return err
	}

	// 9. What Python cannot do: a holder that dies does not leave the lock held forever, and the
	// next holder learns that it must repair what the dead one left half-done.
	balance, _ := value.NewRawValue[int64](0)
	defer balance.Free()
	e.Clear()
	d := mustStart(holdAndDie, l, balance, e)
	if err := e.WaitTimeout(10 * time.Second); err != nil {
		return err
	}
	d.Kill()
	d.Join(proc.Forever)
	return l.Do(func(ownerDied bool) error {
		if !ownerDied {
			return fmt.Errorf("after the holder died: the lock was not recovered")
		}
		fmt.Printf("holder killed; the next holder is told that the owner died, and repairs balance %d", balance.Load())
		balance.Store(0)
		fmt.Printf(" -> %d\n", balance.Load())
		return nil
	})
}
