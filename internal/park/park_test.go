//go:build linux

package park_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/park"
)

func word(t *testing.T) *uint32 {
	return new(uint32) // a private word is fine for these in-process tests: shared futexes work on it too
}

// TestGateManyGoroutines parks 10,000 goroutines on one word through a Gate: they must share one
// OS thread parked in the kernel, not take 10,000.
func TestGateManyGoroutines(t *testing.T) {
	w := word(t)
	var g park.Gate
	const n = 10_000
	var wg sync.WaitGroup
	var started, woken atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			for atomic.LoadUint32(w) == 0 {
				if err := g.Wait(context.Background(), w, 0, 30*time.Second); err != nil {
					t.Error(err)
					return
				}
			}
			woken.Add(1)
		}()
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	threads := osThreads(t)
	require.Less(t, threads, 100, "goroutines waiting through a Gate must not each hold a thread")
	atomic.StoreUint32(w, 1)
	futex.Wake(w, 0)
	wg.Wait()
	require.Equal(t, int32(n), woken.Load())
}

func TestGateTimeoutAndContext(t *testing.T) {
	w := word(t)
	var g park.Gate
	require.ErrorIs(t, g.Wait(context.Background(), w, 0, 5*time.Millisecond), futex.ErrTimeout)
	require.ErrorIs(t, g.Wait(context.Background(), w, 0, 0), futex.ErrTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 { // one parks in the kernel, the other waits on the Gate's channel
		go func() { errs <- g.Wait(ctx, w, 0, futex.Forever) }()
	}
	time.Sleep(10 * time.Millisecond)
	cancel()
	for range 2 {
		require.ErrorIs(t, <-errs, context.Canceled)
	}
	require.ErrorIs(t, g.Wait(ctx, w, 0, futex.Forever), context.Canceled, "already cancelled")
	atomic.StoreUint32(w, 5)
	require.NoError(t, g.Wait(context.Background(), w, 0, time.Second), "value differs: returns at once")
}

func osThreads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}

func TestTurn(t *testing.T) {
	var turn park.Turn
	require.NoError(t, turn.Take(context.Background(), 0), "a free turn is taken at once")
	require.ErrorIs(t, turn.Take(context.Background(), 0), futex.ErrTimeout)
	require.ErrorIs(t, turn.Take(context.Background(), 5*time.Millisecond), futex.ErrTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- turn.Take(ctx, futex.Forever) }()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	turn.Give()
	require.Panics(t, turn.Give, "giving a turn not taken")

	// One holder at a time among many goroutines.
	var inside, peak, total atomic.Int32
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := turn.Take(context.Background(), futex.Forever); err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			total.Add(1)
			inside.Add(-1)
			turn.Give()
		}()
	}
	wg.Wait()
	require.Equal(t, int32(1000), total.Load())
	require.Equal(t, int32(1), peak.Load())
}

// A cancellation racing the parker's entry into the kernel is not lost: the futex wake it sends
// may come before the parker sleeps, and the word does not change, so the parker sleeps in
// slices and looks at its context between them (a watcher of manager.Dict once slept forever
// there, and Close waited for it). Every Wait here must return context.Canceled.
func TestGateCancelRace(t *testing.T) {
	w := word(t)
	var g park.Gate
	for i := range 2000 {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		if err := g.Wait(ctx, w, 0, futex.Forever); err != context.Canceled {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}
