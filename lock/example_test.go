package lock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

// Children used by the examples (registered at package level, as every proc target must be).
var (
	_ = proc.Register(exampleAdd)
	_ = proc.Register(exampleSetter)
)

func exampleAdd(l *lock.Lock, c *cell) error {
	for range 1000 {
		if err := l.Lock(); err != nil {
			return err
		}
		incr(c, 0)
		l.Unlock()
	}
	return nil
}

func exampleSetter(e *lock.Event) error { return e.Set() }

// Two processes add to a shared counter under one Lock.
func ExampleLock() {
	l, _ := lock.NewLock()
	defer l.Free()
	ref, _ := allocCell()
	defer shm.Free(ref)
	c, _ := testutil.OpenCell(ref)
	p, _ := proc.Start(exampleAdd, l, c) // the child gets the Lock as a Ref
	exampleAdd(l, c)
	p.Join(proc.Forever)
	fmt.Println(c.Get(0))
	// Output: 2000
}

// The idiom for a Lock whose holder may die: Do runs the critical section and always releases
// the Lock; ownerDied says the previous holder died inside its own critical section, so the state
// may be half-updated and is repaired first.
func ExampleLock_Do() {
	l, _ := lock.NewLock()
	defer l.Free()
	ref, _ := allocCell()
	defer shm.Free(ref)
	c, _ := testutil.OpenCell(ref)
	p, _ := proc.Start(lockHoldUntilKilled, l, c) // takes the Lock, sets word 1, sleeps
	for c.Get(1) == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Kill() // dies holding the Lock, word 1 still set: a half-done update
	p.Join(proc.Forever)
	err := l.Do(func(ownerDied bool) error {
		if ownerDied {
			fmt.Println("previous owner died; repairing")
			c.Set(1, 0)
		}
		return nil
	})
	fmt.Println(err, l.Locked(), c.Get(1))
	// Output:
	// previous owner died; repairing
	// <nil> false 0
}

// Lock returns an error only when it did not take the Lock, so the usual Go pattern is right; a
// takeover from a dead holder is reported by Recovered while the Lock is held.
func ExampleLock_Recovered() {
	l, _ := lock.NewLock()
	defer l.Free()
	update := func() error {
		if err := l.Lock(); err != nil {
			return err // not held: nothing to release
		}
		defer l.Unlock()
		if l.Recovered() {
			// repair what the dead holder left half-done
		}
		return nil
	}
	fmt.Println(update(), l.Locked())
	// Output: <nil> false
}

func ExampleRecursiveLock() {
	r, _ := lock.NewRecursiveLock()
	defer r.Free()
	r.Lock()
	r.Lock() // the owning process may enter again
	fmt.Println(r.Depth())
	r.Unlock()
	r.Unlock()
	fmt.Println(r.Depth())
	// Output:
	// 2
	// 0
}

func ExampleEvent() {
	e, _ := lock.NewEvent()
	defer e.Free()
	p, _ := proc.Start(exampleSetter, e)
	fmt.Println(e.WaitTimeout(10*time.Second), e.IsSet())
	p.Join(proc.Forever)
	e.Clear()
	fmt.Println(e.WaitTimeout(time.Millisecond))
	// Output:
	// <nil> true
	// lock: Event.Wait: timed out after 1ms
}

func ExampleSemaphore() {
	s, _ := lock.NewSemaphore(2)
	defer s.Free()
	s.Acquire()
	s.Acquire()
	ok, _ := s.TryAcquire()
	fmt.Println(ok, s.Value())
	s.Release()
	fmt.Println(s.Value())
	// Output:
	// false 0
	// 1
}

func ExampleBoundedSemaphore() {
	s, _ := lock.NewBoundedSemaphore(1)
	defer s.Free()
	err := s.Release()
	fmt.Println(errors.Is(err, lock.ErrOverRelease))
	// Output: true
}

func ExampleCondition() {
	c, _ := lock.NewCondition(nil)
	defer c.Locker().Free()
	defer c.Free()
	ready := false
	go func() {
		c.Lock()
		ready = true
		c.NotifyAll()
		c.Unlock()
	}()
	c.Lock()
	err := c.WaitFor(func() bool { return ready }, 10*time.Second)
	c.Unlock()
	fmt.Println(err, ready)
	// Output: <nil> true
}

func ExampleBarrier() {
	b, _ := lock.NewBarrier(2, func() error { fmt.Println("all arrived"); return nil })
	defer b.Free()
	done := make(chan int)
	go func() { i, _ := b.Wait(); done <- i }()
	i, _ := b.Wait()
	fmt.Println(i + <-done) // the indexes are 0 and 1
	// Output:
	// all arrived
	// 1
}

func ExampleRWLock() {
	rw, _ := lock.NewRWLock()
	defer rw.Free()
	rw.RLock()
	rw.RLock()
	fmt.Println(rw.Readers())
	ok, _ := rw.TryLock()
	fmt.Println(ok)
	rw.RUnlock()
	rw.RUnlock()
	fmt.Println(rw.LockTimeout(time.Second))
	rw.Unlock()
	// Output:
	// 2
	// false
	// <nil>
}

// In puts an object in a heap of the caller's choosing, here a segment of its own.
func ExampleIn() {
	seg, _ := shm.Create(1<<16, nil)
	defer seg.Close()
	h, _ := seg.Heap()
	l, _ := lock.NewLock(lock.In(h))
	defer l.Free()
	fmt.Println(l.Ref().Seg == seg.ID())
	// Output: true
}

// A Context form gives up when its context ends, without the lock.
func ExampleLock_LockContext() {
	l, _ := lock.NewLock()
	defer l.Free()
	l.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := l.LockContext(ctx) // held by this process: waits until ctx ends
	fmt.Println(err, l.Owner() == os.Getpid())
	l.Unlock()
	// Output: context deadline exceeded true
}
