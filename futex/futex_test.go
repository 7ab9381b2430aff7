//go:build linux

package futex_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/futex"
)

func word(t *testing.T) *uint32 {
	return new(uint32) // a private word is fine for these in-process tests: shared futexes work on it too
}

func TestWaitValueChanged(t *testing.T) {
	w := word(t)
	atomic.StoreUint32(w, 1)
	require.NoError(t, futex.Wait(w, 0, time.Second), "value differs: returns at once")
}

func TestWaitTimeout(t *testing.T) {
	w := word(t)
	require.ErrorIs(t, futex.Wait(w, 0, 5*time.Millisecond), futex.ErrTimeout)
	require.ErrorIs(t, futex.Wait(w, 0, 0), futex.ErrTimeout)
	err := futex.Wait(w, 0, time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var te interface{ Timeout() bool }
	require.True(t, errors.As(err, &te) && te.Timeout())
}

func TestWakeCounts(t *testing.T) {
	w := word(t)
	n, err := futex.Wake(w, 1)
	require.NoError(t, err)
	require.Zero(t, n, "nobody waits")
	var wg sync.WaitGroup
	var woken atomic.Int32
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.LoadUint32(w) == 0 {
				futex.Wait(w, 0, 10*time.Second)
			}
			woken.Add(1)
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them park; correctness does not depend on it
	atomic.StoreUint32(w, 1)
	_, err = futex.Wake(w, 0)
	require.NoError(t, err)
	wg.Wait()
	require.Equal(t, int32(3), woken.Load())
}

func TestUnaligned(t *testing.T) {
	buf := make([]uint64, 2)
	bad := (*uint32)(unsafe.Add(unsafe.Pointer(&buf[0]), 1))
	require.ErrorIs(t, futex.Wait(bad, 0, time.Millisecond), futex.ErrUnaligned)
	_, err := futex.Wake(bad, 1)
	require.ErrorIs(t, err, futex.ErrUnaligned)
	_, err = futex.WaitV([]futex.WaitWord{{Word: bad}}, time.Millisecond)
	require.ErrorIs(t, err, futex.ErrUnaligned)
}

func TestWaitV(t *testing.T) {
	a, b := word(t), word(t)
	_, err := futex.WaitV([]futex.WaitWord{{Word: a}, {Word: b}}, 5*time.Millisecond)
	if errors.Is(err, futex.ErrUnsupported) {
		requireOldKernel(t)
		t.Skip("futex_waitv needs Linux 5.16")
	}
	require.ErrorIs(t, err, futex.ErrTimeout)
	atomic.StoreUint32(b, 1)
	i, err := futex.WaitV([]futex.WaitWord{{Word: a}, {Word: b}}, time.Second)
	require.NoError(t, err)
	require.Equal(t, -1, i, "a word already differed")
	got := make(chan int)
	go func() {
		i, _ := futex.WaitV([]futex.WaitWord{{Word: a, Val: 0}, {Word: b, Val: 1}}, 10*time.Second)
		got <- i
	}()
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(b, 2)
	futex.Wake(b, 1)
	require.Equal(t, 1, <-got)
	_, err = futex.WaitV(nil, time.Millisecond)
	require.Error(t, err)
	_, err = futex.WaitV(make([]futex.WaitWord, futex.MaxWaitV+1), time.Millisecond)
	require.Error(t, err)
}

// requireOldKernel fails the test if futex_waitv is missing on a kernel that has it.
func requireOldKernel(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	require.NoError(t, err)
	parts := strings.SplitN(strings.TrimSpace(string(b)), ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	if major > 5 || major == 5 && minor >= 16 {
		t.Fatalf("futex_waitv unsupported on kernel %s, which should have it", b)
	}
}

// TestGateManyGoroutines parks 10,000 goroutines on one word through a Gate: they must share one
// OS thread parked in the kernel, not take 10,000.
func TestGateManyGoroutines(t *testing.T) {
	w := word(t)
	var g futex.Gate
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
	var g futex.Gate
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
	var turn futex.Turn
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
