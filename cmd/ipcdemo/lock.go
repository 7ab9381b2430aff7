package main

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func init() {
	register(50, "lock", "Lock keeps a shared balance at 0; RecursiveLock, Event, Semaphore, Condition, Barrier; a dead holder", runLock)
}

// board is a block of the shared heap holding a few raw words: the balance (word 0), flags and
// counters. Without a lock, nothing guards it: that is the point of the first demo.
type board struct {
	ref shm.Ref
	b   []byte
}

var boardKind shm.Kind

func init() {
	boardKind = shm.RegisterKind("ipcdemo.board", func(r shm.Ref) (any, error) { return openBoard(r) })
}

func openBoard(r shm.Ref) (*board, error) {
	_, b, err := shm.Resolve(r, boardKind)
	if err != nil {
		return nil, err
	}
	return &board{r, b}, nil
}

func newBoard() (*board, error) {
	ref, err := shm.Alloc(256, boardKind)
	if err != nil {
		return nil, err
	}
	return openBoard(ref)
}

func (b *board) Ref() shm.Ref        { return b.ref }
func (b *board) free()               { shm.Free(b.ref) }
func (b *board) word(i int) *uint32  { return shm.Word32(b.b, 64+4*i) }
func (b *board) load() int64         { return int64(atomic.LoadUint64(shm.Word64(b.b, 0))) }
func (b *board) store(v int64)       { atomic.StoreUint64(shm.Word64(b.b, 0), uint64(v)) }
func (b *board) ready() *uint32      { return b.word(0) }
func (b *board) start() *uint32      { return b.word(1) }
func (b *board) inside() *uint32     { return b.word(2) }
func (b *board) mostInside() *uint32 { return b.word(3) }
func (b *board) stock() *uint32      { return b.word(4) }

// Child targets, registered at package level.
var (
	_ = proc.Register(changeBalance)
	_ = proc.Register(changeBalanceLocked)
	_ = proc.Register(enterRoom)
	_ = proc.Register(signalReady)
	_ = proc.Register(useResource)
	_ = proc.Register(consumeItems)
	_ = proc.Register(meetAtBarrier)
	_ = proc.Register(holdAndDie)
)

const rounds = 100_000

// racyRounds is longer: lost updates need the two processes on two CPUs at the same moment, and a
// run of 100,000 rounds lasts well under a millisecond.
const racyRounds = 2_000_000

// waitStart counts this process as ready and spins until the parent says go, so that both
// workers really run at the same time.
func waitStart(bd *board) {
	atomic.AddUint32(bd.ready(), 1)
	for atomic.LoadUint32(bd.start()) == 0 {
		runtime.Gosched()
	}
}

// changeBalance is the tutorial's change_it without a lock: balance = balance + n, then
// balance = balance - n, each a separate read and write of shared memory.
func changeBalance(bd *board, n int64) {
	waitStart(bd)
	for range racyRounds {
		bd.store(bd.load() + n)
		bd.store(bd.load() - n)
	}
}

// changeBalanceLocked is the same with lock.acquire() / lock.release() around each change.
func changeBalanceLocked(bd *board, l *lock.Lock, n int64) error {
	waitStart(bd)
	for range rounds {
		if err := l.Lock(); err != nil {
			return err
		}
		bd.store(bd.load() + n)
		bd.store(bd.load() - n)
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// runTwo starts target(bd, extra..., 5) and target(bd, extra..., 8), lets them go together and
// joins them.
func runTwo(bd *board, target any, extra ...any) error {
	var ps []*proc.Process
	for _, n := range []int64{5, 8} {
		p, err := proc.Start(target, append(append([]any{bd}, extra...), n)...)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	for atomic.LoadUint32(bd.ready()) < 2 {
		time.Sleep(100 * time.Microsecond)
	}
	atomic.StoreUint32(bd.start(), 1)
	return joinAll(ps)
}

func joinAll(ps []*proc.Process) error {
	for _, p := range ps {
		if err := p.Join(proc.Forever); err != nil {
			return err
		}
		if code, _ := p.ExitCode(); code != 0 {
			return fmt.Errorf("%v exited %d", p, code)
		}
	}
	return nil
}

// enterRoom is "two tasks must not be in the room at once": each takes the lock, is alone in the
// room for a moment, and leaves.
func enterRoom(l *lock.Lock, task string, times int) error {
	for range times {
		if err := l.Lock(); err != nil {
			return err
		}
		fmt.Printf("  %s enters the room (pid %d)\n", task, os.Getpid())
		time.Sleep(5 * time.Millisecond)
		fmt.Printf("  %s leaves the room\n", task)
		if err := l.Unlock(); err != nil {
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
func useResource(s *lock.Semaphore, bd *board, id int) error {
	if err := s.Acquire(); err != nil {
		return err
	}
	in := atomic.AddUint32(bd.inside(), 1)
	for {
		m := atomic.LoadUint32(bd.mostInside())
		if in <= m || atomic.CompareAndSwapUint32(bd.mostInside(), m, in) {
			break
		}
	}
	fmt.Printf("  worker %d uses the resource (%d inside)\n", id, in)
	time.Sleep(30 * time.Millisecond)
	atomic.AddUint32(bd.inside(), ^uint32(0))
	return s.Release()
}

// consumeItems waits on the condition for n items, one at a time.
func consumeItems(c *lock.Condition, bd *board, n int) error {
	if err := c.Lock(); err != nil {
		return err
	}
	defer c.Unlock()
	for range n {
		if err := c.WaitFor(func() bool { return atomic.LoadUint32(bd.stock()) > 0 }, 10*time.Second); err != nil {
			return err
		}
		left := atomic.AddUint32(bd.stock(), ^uint32(0))
		fmt.Printf("  consumer %d: took an item (%d left)\n", os.Getpid(), left)
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

func holdAndDie(l *lock.Lock, bd *board) {
	if l.Lock() != nil {
		return
	}
	fmt.Printf("  child %d: holding the lock... and crashing\n", os.Getpid())
	atomic.StoreUint32(bd.ready(), 1)
	time.Sleep(time.Hour) // killed here
}

func runLock() error {
	// 1. The race: two processes change a shared balance without a lock.
	bd, err := newBoard()
	if err != nil {
		return err
	}
	defer bd.free()
	if err := runTwo(bd, changeBalance); err != nil {
		return err
	}
	if b := bd.load(); b != 0 {
		fmt.Printf("without a lock: balance = %d after 2 × %d changes: updates were lost (it should be 0)\n", b, racyRounds)
	} else {
		fmt.Printf("without a lock: balance = 0 after 2 × %d changes: no collision this time (the two processes did not run at the same moment)\n", racyRounds)
	}

	// 2. The same with a Lock: exactly 0.
	l, err := lock.NewLock()
	if err != nil {
		return err
	}
	defer l.Free()
	bd2, err := newBoard()
	if err != nil {
		return err
	}
	defer bd2.free()
	if err := runTwo(bd2, changeBalanceLocked, l); err != nil {
		return err
	}
	fmt.Printf("with lock.Lock: balance = %d\n", bd2.load())
	if bd2.load() != 0 {
		return fmt.Errorf("the lock did not keep the balance at 0")
	}

	// 3. Two tasks in the room, never together.
	fmt.Println("two tasks, one room:")
	a, err := proc.Start(enterRoom, l, "task A", 2)
	if err != nil {
		return err
	}
	b, err := proc.Start(enterRoom, l, "task B", 2)
	if err != nil {
		return err
	}
	if err := joinAll([]*proc.Process{a, b}); err != nil {
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
	p, err := proc.Start(signalReady, e)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := e.WaitTimeout(5 * time.Second); err != nil {
		return err
	}
	fmt.Printf("event set after %v; is_set() = %v\n", time.Since(t0).Round(time.Millisecond), e.IsSet())
	e.Clear()
	fmt.Printf("after clear(): wait(10ms) -> %v\n", e.WaitTimeout(10*time.Millisecond))
	if err := joinAll([]*proc.Process{p}); err != nil {
		return err
	}

	// 6. Semaphore(2): four workers, never more than two inside.
	s, err := lock.NewSemaphore(2)
	if err != nil {
		return err
	}
	defer s.Free()
	bd3, err := newBoard()
	if err != nil {
		return err
	}
	defer bd3.free()
	var ws []*proc.Process
	for i := range 4 {
		p, err := proc.Start(useResource, s, bd3, i)
		if err != nil {
			return err
		}
		ws = append(ws, p)
	}
	if err := joinAll(ws); err != nil {
		return err
	}
	fmt.Printf("Semaphore(2): at most %d workers inside at once\n", atomic.LoadUint32(bd3.mostInside()))

	// 7. Condition: a consumer waits for items that the producer announces with notify_all.
	c, err := lock.NewCondition(nil)
	if err != nil {
		return err
	}
	defer c.Locker().Free()
	defer c.Free()
	cons, err := proc.Start(consumeItems, c, bd3, 3)
	if err != nil {
		return err
	}
	for i := range 3 {
		time.Sleep(10 * time.Millisecond)
		c.Lock()
		atomic.AddUint32(bd3.stock(), 1)
		fmt.Printf("  producer: made item %d, notify_all()\n", i+1)
		c.NotifyAll()
		c.Unlock()
	}
	if err := joinAll([]*proc.Process{cons}); err != nil {
		return err
	}

	// 8. Barrier(3): three processes meet, the action runs once.
	bar, err := lock.NewBarrier(3, barrierAction)
	if err != nil {
		return err
	}
	defer bar.Free()
	var ms []*proc.Process
	for _, name := range []string{"child 1", "child 2"} {
		p, err := proc.Start(meetAtBarrier, bar, name)
		if err != nil {
			return err
		}
		ms = append(ms, p)
	}
	if err := meetAtBarrier(bar, "parent"); err != nil {
		return err
	}
	if err := joinAll(ms); err != nil {
		return err
	}

	// 9. What Python cannot do: a holder that dies does not leave the lock held forever.
	bd4, err := newBoard()
	if err != nil {
		return err
	}
	defer bd4.free()
	d, err := proc.Start(holdAndDie, l, bd4)
	if err != nil {
		return err
	}
	for atomic.LoadUint32(bd4.ready()) == 0 {
		time.Sleep(time.Millisecond)
	}
	d.Kill()
	d.Join(proc.Forever)
	t0 = time.Now()
	return l.Do(func(ownerDied bool) error {
		if !ownerDied {
			return fmt.Errorf("after the holder died: the lock was not recovered")
		}
		fmt.Printf("holder killed; the next acquirer got the lock after %v, told that the owner died\n", time.Since(t0).Round(10*time.Microsecond))
		return nil
	})
}
