package lock_test

import (
	"errors"
	"fmt"
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

// A Lock whose holder died is handed to the next acquirer with ErrOwnerDead.
func ExampleLock_ownerDead() {
	l, _ := lock.NewLock()
	defer l.Free()
	ref, _ := allocCell()
	defer shm.Free(ref)
	c, _ := testutil.OpenCell(ref)
	p, _ := proc.Start(lockHoldUntilKilled, l, c)
	for c.Get(1) == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Kill()
	err := l.LockTimeout(5 * time.Second)
	fmt.Println(errors.Is(err, lock.ErrOwnerDead))
	l.Unlock()
	p.Join(proc.Forever)
	// Output: true
}

func ExampleRLock() {
	r, _ := lock.NewRLock()
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
	// shmkit: timeout
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
