package park

import (
	"context"
	"sync"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/deadline"
)

// A Turn lets one goroutine of this process at a time take its turn at something, usually at
// waiting on a shared word, while the others queue on a Go channel holding no OS thread.
//
// A Gate wakes every goroutine of the process that waits on its word; that suits a broadcast (an
// Event, a closed queue) but makes 10,000 goroutines blocked on one lock a thundering herd, each
// release waking them all to find one winner. Taking a Turn before waiting through the Gate keeps
// one goroutine per process at the word: a release wakes it, and it hands the turn to the next.
//
// The zero Turn is ready to use; a Turn must not be copied after first use.
type Turn struct {
	_    noCopy
	once sync.Once
	ch   chan struct{} // capacity 1: holding the token is holding the turn
}

func (t *Turn) init() { t.once.Do(func() { t.ch = make(chan struct{}, 1) }) }

// Take waits for the turn, at most timeout (Forever: no bound; 0: only if it is free now) and
// until ctx (which may be nil) is done. It returns nil holding the turn, futex.ErrTimeout or ctx.Err()
// without it. Each successful Take must be followed by one Give.
func (t *Turn) Take(ctx context.Context, timeout time.Duration) error {
	if err := deadline.Check("futex: Turn.Take", timeout); err != nil {
		return err
	}
	t.init()
	select {
	case t.ch <- struct{}{}:
		return nil
	default:
	}
	if timeout == 0 {
		return futex.ErrTimeout
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case t.ch <- struct{}{}:
		return nil
	case <-done:
		return ctx.Err()
	case <-timer:
		return futex.ErrTimeout
	}
}

// Give hands the turn to the next goroutine waiting in Take. Giving a turn not taken panics, as
// unlocking an unlocked sync.Mutex does.
func (t *Turn) Give() {
	t.init()
	select {
	case <-t.ch:
	default:
		panic("futex: Give of a Turn not taken")
	}
}
