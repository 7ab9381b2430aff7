package robust

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/park"
)

// A Local is this process's private companion of one shared word: the Gate through which its
// goroutines sleep on the word, a turnstile that lets one goroutine at a time of this process
// compete for a mutex-like word in its slow path (so that a wake-up goes to one goroutine instead
// of all of them: 10,000 goroutines blocked on one mutex queue on a Go channel, not in the
// kernel, and a release wakes one), and the adaptive spin budget. It holds nothing shared, so a
// peer's death or scribble cannot harm it. The zero Local is ready; it must not be copied. Find a
// word's Local through a Registry, so that every handle of this process on the word shares it.
type Local struct {
	gate park.Gate
	turn park.Turn // the right to wait on the word
	//lint:ignore U1000 touched only in -race builds (race.go)
	race   uint32       // touched only under the race detector (race.go)
	budget atomic.Int64 // spin budget in nanoseconds, 0: spinStart (see Spin)
}

// Enter takes the turnstile, waiting at most until dl; the bare deadline.ErrTimeout or the
// context's error when it could not. A free turn is taken even when dl has passed.
func (l *Local) Enter(dl deadline.D) error {
	d, err := dl.Left(deadline.Forever)
	if err == deadline.ErrTimeout {
		d = 0 // passed (or a try): only a free turn is taken
	} else if err != nil {
		return err
	}
	return l.turn.Take(dl.Context(), d)
}

// Leave gives the turnstile back (after a successful Enter).
func (l *Local) Leave() { l.turn.Give() }

// Spinning: before it parks in the kernel, a waiter re-reads the word for a while, yielding the
// processor every spinYield reads. A futex wake-up costs the waker a syscall and the sleeper
// several microseconds of scheduling; a spin that sees the word change costs nanoseconds.
//
// How long to spin adapts, per word and process, to what the waits were like (as adaptive
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

// Spin calls try until it succeeds or the spin budget is spent, yielding the processor every few
// calls; it reports whether try succeeded. try reads shared memory: it must validate what it reads
// and never block.
func (l *Local) Spin(try func() bool) bool {
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

// Park sleeps on w while it holds val, at most d and until ctx (nil: none) ends, through the
// Gate (see park.Gate.Wait: nil when woken or spuriously, futex.ErrTimeout, ctx.Err()), and adapts
// the spin budget to how the sleep ended. The caller re-reads the word and loops.
func (l *Local) Park(ctx context.Context, w *uint32, val uint32, d time.Duration) error {
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
// under the 1 s shmkit promises) while a long wait costs a few syscalls per second.
const (
	sliceMin = time.Millisecond
	sliceMax = 100 * time.Millisecond
)

// A Backoff is a waiter's current park slice; the zero Backoff starts at the shortest.
type Backoff time.Duration

// Next returns the slice to park for now (1 ms, then doubling up to 100 ms), after which the
// waiter checks that its peer still lives.
func (b *Backoff) Next() time.Duration {
	d := time.Duration(*b)
	if d < sliceMin {
		d = sliceMin
	}
	if n := 2 * d; n <= sliceMax {
		*b = Backoff(n)
	} else {
		*b = Backoff(sliceMax)
	}
	return d
}

// Slice parks on w while it holds val, for at most the next slice of b and within dl: one step of
// a wait that watches a peer. sliceEnded reports that the slice passed without news, time for the
// caller to check its peer. err ends the wait: the bare deadline.ErrTimeout when dl is over (or a
// try), the context's error when it ended, or a failed futex wait. Otherwise (woken, or
// spuriously) both are zero. In every case the caller re-reads the word.
func (l *Local) Slice(dl deadline.D, b *Backoff, w *uint32, val uint32) (sliceEnded bool, err error) {
	d, err := dl.Left(b.Next())
	if err != nil {
		return false, err
	}
	err = l.Park(dl.Context(), w, val, d)
	switch {
	case errors.Is(err, deadline.ErrTimeout):
		return true, nil
	case ended(dl) != nil:
		return false, ended(dl)
	case err != nil:
		return false, fmt.Errorf("shmkit: futex wait: %w", err)
	}
	return false, nil
}

// A Registry maps a shared object's identity in this process (a word's address, or a segment
// id, offset and generation) to its process-local state V, so that every handle of this process
// on the object shares one. It is safe for concurrent use; the zero Registry is empty.
type Registry[K comparable, V any] struct {
	m sync.Map // K -> *V
}

// Get returns k's state, creating it when there is none: a new zero V, passed to init (when not
// nil) before it is published. Two goroutines that create at once get the same state (one of
// the two new ones is dropped).
func (r *Registry[K, V]) Get(k K, init func(*V)) *V {
	if v, ok := r.m.Load(k); ok {
		return v.(*V)
	}
	nv := new(V)
	if init != nil {
		init(nv)
	}
	v, _ := r.m.LoadOrStore(k, nv)
	return v.(*V)
}

// Delete forgets k's state (the object was freed); a handle still holding the old state keeps it.
func (r *Registry[K, V]) Delete(k K) { r.m.Delete(k) }
