package ring

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	shdeadline "github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/park"
)

// deadline is how long a blocking call may wait: shmkit's one bound (internal/deadline): until
// a time, forever, or not at all (a try), and until a context (nil: none) is done.
type deadline = shdeadline.D

// newDeadline is the bound of a Timeout form: Forever waits without bound, 0 tries once, any
// other negative value is ErrBadTimeout.
func newDeadline(d time.Duration) (deadline, error) { return shdeadline.New("ring", nil, d) }

// contextBound is the bound of a Context form.
func contextBound(ctx context.Context) deadline { return shdeadline.Ctx(ctx) }

// forever is the bound of the calls that wait without limit or context; tryNow of those that
// never wait.
var (
	forever deadline
	tryNow  = shdeadline.Try()
)

// timeoutErr names op and the timeout d in a bare ErrTimeout (shmkit's convention: "ring: Get:
// timed out after 250ms"); other errors pass unchanged.
func timeoutErr(op string, d time.Duration, err error) error {
	if err == ErrTimeout {
		return shdeadline.Timeout(op, d)
	}
	return err
}

// How a waiter waits before it sleeps in the kernel: spinChecks checks of its condition, spinGap
// loop iterations apart (~50 ns here; ~11 µs in all), then spinYields checks each after a
// sched_yield, then sleep. The gap matters: a consumer that re-reads the producer's index in a
// tight loop takes its cache line away at every check. The yields are few on purpose: on this
// 2-vCPU machine shared with other work, yielding for 50 µs before sleeping gave the CPU away for
// whole time slices and cost a ping-pong 30 µs per round trip (docs/ring.md). The spin was 0.5 µs
// while a heavy fence (membarrier, 1-13 µs) preceded every sleep; without the fence, a ping-pong
// that spins that little sleeps more often (median round trip 1.0-1.4 µs against 0.8-0.9 with the
// fence, in alternating runs), and 11 µs of spinning won it back (1.4 µs against 3.4, 9 of 12
// paired rounds).
const (
	spinChecks = 200
	spinGap    = 100
	spinYields = 8
)

// pauseSink keeps pause's loop from being optimised away.
//
//lint:ignore U1000 written, never read: its only job is to make the loop's result observable
var pauseSink uint32

// pause burns about n loop iterations without touching shared memory.
func pause(n int) {
	x := uint32(0)
	for i := 0; i < n; i++ {
		x += uint32(i)
	}
	if x == 1 {
		pauseSink = x
	}
}

// tick bounds every park, so a waiter notices a peer that died without waking it.
const tick = 50 * time.Millisecond

// A wakeup is one direction of a queue's blocking: a sequence word that those who make progress
// bump when someone sleeps, a flag that sleepers raise, and this process's Gate on the word.
//
// A sleeper loads seq, raises the flag, checks its condition once more and sleeps while seq is
// unchanged. Whoever makes progress publishes it and then, only if the flag is up, lowers it,
// bumps seq and wakes every sleeper: one system call per sleep, not per message. The waker
// publishes with a release store, so it may look at the flag before the sleeper's flag is visible
// while its own store is not yet visible to the sleeper's last check; the sleeper therefore first
// sleeps at most fence.DrainBound, after which that store is visible, and checks again. A sleeper
// that leaves without being woken (its tick, its deadline) leaves the flag up: the next waker
// then makes one needless wake-up.
type wakeup struct {
	seq     *uint32
	waiters *uint32   // the flag: non-zero when someone may sleep on seq
	gate    park.Gate // this process's
}

// signal wakes every process sleeping on w, if the flag says one may. The caller has already
// published the change the sleepers look for.
func (w *wakeup) signal() {
	if atomic.LoadUint32(w.waiters) != 0 {
		w.signalSlow()
	}
}

//go:noinline
func (w *wakeup) signalSlow() {
	if atomic.SwapUint32(w.waiters, 0) != 0 {
		atomic.AddUint32(w.seq, 1)
		futex.Wake(w.seq, 0)
	}
}

// raise announces a sleeper and returns the sequence value to sleep on.
func (w *wakeup) raise() uint32 {
	seq := atomic.LoadUint32(w.seq)
	atomic.StoreUint32(w.waiters, 1)
	return seq
}

// wake wakes every waiter unconditionally (Close).
func (w *wakeup) wake() {
	atomic.AddUint32(w.seq, 1)
	futex.Wake(w.seq, 0)
}

// park waits until ready() holds, spinning briefly and then sleeping on w, for at most one tick
// and within dl. It returns true when ready() held or the sleep was woken (the caller re-checks
// everything), false when a whole tick passed, and ErrTimeout or the context's error when dl is
// over.
func (w *wakeup) park(dl *deadline, ready func() bool) (bool, error) {
	if _, err := dl.Left(tick); err != nil {
		return false, err
	}
	for i := 0; i < spinChecks; i++ {
		if ready() {
			return true, nil
		}
		pause(spinGap)
	}
	for i := 0; i < spinYields; i++ {
		futex.Yield()
		if ready() {
			return true, nil
		}
	}
	seq := w.raise()
	if ready() {
		return true, nil
	}
	d, err := dl.Left(tick)
	if err != nil {
		return false, err
	}
	// The other side publishes with a release store and then looks at the flag; it may have
	// looked before the flag rose, while its store still waited in its store buffer where
	// ready() above could not see it. Such a store is visible within fence.DrainBound: sleep
	// that long first and look again (internal/fence).
	if first := min(d, fence.DrainBound); first < d {
		err = w.gate.Wait(dl.Context(), w.seq, seq, first)
		if err != futex.ErrTimeout {
			return true, err
		}
		if ready() {
			return true, nil
		}
		d -= first
	}
	err = w.gate.Wait(dl.Context(), w.seq, seq, d)
	if err == futex.ErrTimeout {
		return ready(), nil // the tick, not the deadline: the caller checks dl again
	}
	return true, err
}

// takeTurn takes one side's park.Turn within dl: one goroutine of this process at a time waits
// on a side of a queue, so a wake-up reaches one goroutine, not all of them. The turn may be
// held by a goroutine waiting on another handle of the queue, which this handle's Close does not
// wake: the wait for the turn ends with the handle too (ErrClosed).
func (q *Queue) takeTurn(t *park.Turn, dl *deadline) error {
	d, err := dl.Left(Forever) // Forever when dl has no time limit
	if err != nil {
		if t.Take(context.Background(), 0) == nil { // a free turn is taken even when the time is up
			return nil
		}
		return err
	}
	ctx := q.hctx
	if dl.Context() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(dl.Context())
		defer cancel()
		defer context.AfterFunc(q.hctx, cancel)()
	}
	if err := t.Take(ctx, d); err != nil {
		if q.Closed() {
			return ErrClosed
		}
		if dl.Context() != nil && dl.Context().Err() != nil {
			return dl.Context().Err()
		}
		return err
	}
	return nil
}
