package lock

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/park"
)

// local is this process's private companion of one shared word: the Gate through which its
// goroutines sleep on the word, and a turnstile that lets one goroutine at a time of this process
// compete for a mutex-like word in its slow path, so that a wake-up goes to one goroutine instead
// of all of them (10,000 goroutines blocked on one Lock queue on a Go channel, not in the kernel,
// and a release wakes one).
type local struct {
	gate park.Gate
	turn park.Turn // the right to wait on the word
	//lint:ignore U1000 touched only in -race builds (race.go)
	race   uint32       // touched only under the race detector (race.go)
	budget atomic.Int64 // spin budget in nanoseconds, 0: spinStart (see spin)
	probed atomic.Int64 // Condition: when this process last probed for dead waiters (unix ns)
}

// locals maps a shared word's address to its local state, so that every object of this process
// opened on the same shared block shares it. Entries are never removed: a word's memory stays
// mapped for the life of the process (the default heap) or of its segment, and a stale entry for
// a freed and reused block is still correct for the word at that address.
var locals sync.Map // *uint32 -> *local

func localFor(w *uint32) *local {
	if v, ok := locals.Load(w); ok {
		return v.(*local)
	}
	v, _ := locals.LoadOrStore(w, &local{})
	return v.(*local)
}

// enter takes the turnstile, waiting at most until dl; ErrTimeout or the context's error when
// it could not.
func (l *local) enter(dl deadline) error {
	d, err := dl.Left(Forever)
	if err == ErrTimeout {
		d = 0 // passed (or a try): only a free turn is taken
	} else if err != nil {
		return err
	}
	return l.turn.Take(dl.Context(), d)
}

func (l *local) leave() { l.turn.Give() }

// Spinning: before it parks in the kernel, a waiter re-reads the word for a while, yielding the
// processor every spinYield reads. A futex wake-up costs the waker a syscall and the sleeper
// several microseconds of scheduling; a spin that sees the word change costs nanoseconds.
//
// How long to spin adapts, per object and process, to what the waits were like (as adaptive
// mutexes do): a park that ended by a wake-up soon after it began means a longer spin would have
// caught the change, so the budget doubles (up to spinMax); a long park means spinning was wasted,
// so it halves (down to spinMin), and so does a spin that succeeded only after spinSlow (the peer
// was waiting for a CPU while we spun: on a busy machine, parking lets the kernel run it sooner).
// A ping-pong between two processes that each have a CPU settles where both sides stay in their
// spin; a consumer that mostly waits long spins for a couple of microseconds.
const (
	spinMin   = 2 * time.Microsecond
	spinStart = 20 * time.Microsecond
	spinMax   = 200 * time.Microsecond
	spinSlow  = 10 * time.Microsecond
	spinYield = 16
)

// spin re-reads until try succeeds or the budget is spent; it reports whether try succeeded.
func (l *local) spin(try func() bool) bool {
	budget := time.Duration(l.budget.Load())
	if budget == 0 {
		budget = spinStart
	}
	var start time.Time
	for i := 1; ; i++ {
		if try() {
			if !start.IsZero() && time.Since(start) > spinSlow {
				// The change came, but late: the peer was probably waiting for a CPU while we
				// spun. Spin less next time and let the kernel schedule it.
				l.budget.Store(int64(max(budget/2, spinMin)))
			}
			return true
		}
		if i%spinYield == 0 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > budget {
				return false
			}
			if i%(8*spinYield) == 0 {
				futex.Yield()
			} else {
				runtime.Gosched()
			}
		}
	}
}

// park sleeps on the word through the Gate (see park.Gate.Wait) and adapts the spin budget to
// how the sleep ended.
func (l *local) park(ctx context.Context, w *uint32, val uint32, d time.Duration) error {
	t0 := time.Now()
	err := l.gate.Wait(ctx, w, val, d)
	slept := time.Since(t0)
	budget := time.Duration(l.budget.Load())
	if budget == 0 {
		budget = spinStart
	}
	if err == nil && slept < spinMax {
		budget = min(2*budget, spinMax)
	} else if slept >= spinMax {
		budget = max(budget/2, spinMin)
	}
	l.budget.Store(int64(budget))
	return err
}

// Parking: waiters that must watch for a dead peer sleep in slices that double from sliceMin to
// sliceMax, and check the peer after each; so a death is noticed within about sliceMax (well
// under the 1 s the package promises) while a long wait costs a few syscalls per second.
const (
	sliceMin = time.Millisecond
	sliceMax = 100 * time.Millisecond
)

// backoff is a waiter's current slice.
type backoff time.Duration

func (b *backoff) next() time.Duration {
	d := time.Duration(*b)
	if d < sliceMin {
		d = sliceMin
	}
	if n := 2 * d; n <= sliceMax {
		*b = backoff(n)
	} else {
		*b = backoff(sliceMax)
	}
	return d
}
