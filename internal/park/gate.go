// Package park holds how the goroutines of one process wait on a shared futex word without each
// holding an OS thread: a Gate funnels them through one parked thread, a Turn queues them so that
// one at a time waits. lock and ring build their blocking on it. It was public in package futex;
// users never needed it, so it is internal now.
package park

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/deadline"
)

// A Gate funnels the goroutines of one process that wait on one shared word through a single OS
// thread parked in the kernel.
//
// A futex wait holds its OS thread for as long as it sleeps: 10,000 goroutines blocked in Wait on
// one queue would be 10,000 threads, past the runtime's limit. Through a Gate, the first waiter
// parks in the kernel (the "parker") and every later one waits on a Go channel that the parker
// closes when it returns. Woken goroutines re-check their condition; one of them parks next. So
// the threads a process holds grow with the number of words it waits on, not with its waiters.
//
// A wake-up that reaches the parker reaches every goroutine waiting through the Gate (they all
// return nil and re-check); Wake's count n therefore counts processes, not goroutines. Protocols
// built on a Gate must tolerate that, as they must tolerate spurious wake-ups anyway.
//
// The zero Gate is ready to use. A Gate must not be copied after first use. One Gate serves one
// word; its methods may be called from any number of goroutines.
type Gate struct {
	_      noCopy
	mu     sync.Mutex
	parked bool          // a goroutine is in (or entering) the kernel wait
	ch     chan struct{} // closed when the current parker returns; nil when nobody waits on it
}

// Wait sleeps while *word == val, as futex.Wait does, at most timeout (Forever: no
// bound), and returns early with ctx.Err() when ctx is done (context.Background() for no
// cancellation; nil is treated the same). It returns nil when woken or spuriously; the caller
// re-reads the word and loops on its own condition.
//
// When ctx is cancelled while its goroutine is the parker, the Gate wakes every waiter of the word
// (in every process) so the parker can leave the kernel: a spurious wake-up for the others.
func (g *Gate) Wait(ctx context.Context, word *uint32, val uint32, timeout time.Duration) error {
	if err := deadline.Check("futex: Gate.Wait", timeout); err != nil {
		return err
	}
	var done <-chan struct{}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		done = ctx.Done()
	}
	if timeout == 0 {
		return futex.ErrTimeout
	}
	g.mu.Lock()
	if atomic.LoadUint32(word) != val {
		g.mu.Unlock()
		return nil
	}
	if !g.parked {
		g.parked = true
		g.mu.Unlock()
		var stop func() bool
		if done != nil {
			stop = context.AfterFunc(ctx, func() { futex.Wake(word, 0) })
		}
		err := waitSliced(done, word, val, timeout)
		if stop != nil {
			stop()
		}
		g.mu.Lock()
		g.parked = false
		if g.ch != nil {
			close(g.ch)
			g.ch = nil
		}
		g.mu.Unlock()
		if err == nil && ctx != nil {
			err = ctx.Err()
		}
		return err
	}
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	ch := g.ch
	g.mu.Unlock()

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timer:
		return futex.ErrTimeout
	case <-done:
		return ctx.Err()
	}
}

// noCopy makes go vet's copylocks check report copies of a Gate.
// cancelSlice bounds each kernel sleep of a parker whose context can end. Cancellation wakes the
// parker through a futex wake, but a wake that comes after the parker read the word and before
// it entered the kernel is lost (the word did not change), and it would then sleep until the
// next real wake-up, forever on an idle word. So a cancellable parker sleeps in slices and
// looks at the context between them: such a lost cancellation costs at most one slice.
const cancelSlice = 50 * time.Millisecond

// waitSliced is futex.Wait(word, val, timeout), in slices of at most cancelSlice while done
// (which may be nil) is not closed.
func waitSliced(done <-chan struct{}, word *uint32, val uint32, timeout time.Duration) error {
	if done == nil || (timeout >= 0 && timeout <= cancelSlice) {
		return futex.Wait(word, val, timeout)
	}
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	for {
		d := time.Duration(cancelSlice)
		if timeout > 0 {
			left := time.Until(end)
			if left <= 0 {
				return futex.ErrTimeout
			}
			d = min(d, left)
		}
		err := futex.Wait(word, val, d)
		if !errors.Is(err, futex.ErrTimeout) {
			return err // woken, the word changed, or a failure
		}
		select {
		case <-done:
			return nil // the caller reports ctx.Err()
		default:
		}
		if atomic.LoadUint32(word) != val {
			return nil
		}
	}
}

type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
