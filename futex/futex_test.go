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
