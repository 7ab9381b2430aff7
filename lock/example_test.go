package lock_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// Children used by the examples (registered at package level, as every proc target must be).
var (
	_ = proc.Register(exampleAdd)
	_ = proc.Register(exampleSetter)
	_ = proc.Register(exampleHoldAndDie)
)

// exampleAdd adds 1 to counter 1000 times, each time under l: a load and a store, which without
// the Lock would lose updates made by the other process.
func exampleAdd(l *lock.Lock, counter *value.RawValue[int64]) error {
	for range 1000 {
		err := l.Do(func(bool) error { return counter.Store(counter.Load() + 1) })
		if err != nil {
			return err
		}
	}
	return nil
}

func exampleSetter(e *lock.Event) error { return e.Set() }

// exampleHoldAndDie takes l, starts an update of state (sets it to 1: "half done") and waits to
// be killed before it finishes.
func exampleHoldAndDie(l *lock.Lock, state *value.RawValue[int64]) error {
	if err := l.Lock(); err != nil {
		return err
	}
	if err := state.Store(1); err != nil {
		return err
	}
	for {
		time.Sleep(time.Hour)
	}
}

// Two processes add to a shared counter under one Lock.
func ExampleLock() {
	l, err := lock.NewLock()
	if err != nil {
		panic(err)
	}
	defer l.Free()
	counter, err := value.NewRawValue[int64](0)
	if err != nil {
		panic(err)
	}
	defer counter.Free()
	p, err := proc.Start(exampleAdd, l, counter) // the child gets the same Lock and counter
	if err != nil {
		panic(err)
	}
	if err := exampleAdd(l, counter); err != nil {
		panic(err)
	}
	if err := p.Wait(); err != nil {
		panic(err)
	}
	fmt.Println(counter.Load())
	// Output: 2000
}

// The idiom for a Lock whose holder may die: Do runs the critical section and always releases
// the Lock; ownerDied says the previous holder died inside its own critical section, so the state
// may be half-updated and is repaired first.
func ExampleLock_Do() {
	l, err := lock.NewLock()
	if err != nil {
		panic(err)
	}
	defer l.Free()
	state, err := value.NewRawValue[int64](0)
	if err != nil {
		panic(err)
	}
	defer state.Free()
	p, err := proc.Start(exampleHoldAndDie, l, state) // takes the Lock, sets state to 1, sleeps
	if err != nil {
		panic(err)
	}
	for state.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Kill() // dies holding the Lock, state still 1: a half-done update
	p.Join(proc.Forever)
	err = l.Do(func(ownerDied bool) error {
		if ownerDied {
			fmt.Println("previous owner died; repairing")
			return state.Store(0)
		}
		return nil
	})
	fmt.Println(err, l.Locked(), state.Load())
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
