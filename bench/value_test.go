package bench_test

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

var _ = proc.Register(valueAddPeer)

// valueAddPeer is the second process of BenchmarkValueAdd/shmkit: it says it is ready, waits for
// the start flag, adds n times, and says it is done.
func valueAddPeer(v *value.Value[int64], ready, start, done *value.RawValue[int32], n int) error {
	if err := ready.Store(1); err != nil {
		return err
	}
	for start.Load() == 0 {
		runtime.Gosched()
	}
	for range n {
		value.Add(v, 1)
	}
	return done.Store(1)
}

func newValueFlag(b *testing.B) *value.RawValue[int32] {
	f, err := value.NewRawValue[int32](0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Free() })
	return f
}

// BenchmarkValueAdd: one op is one atomic add to a shared int64 counter, by two workers at once:
// shmkit, two processes calling value.Add on one Value[int64]; atomic, two goroutines calling
// sync/atomic's AddInt64 on one int64; python, two CPython processes doing
// "with v.get_lock(): v.value += 1" on a multiprocessing.Value('q') (Python has no atomic add).
func BenchmarkValueAdd(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		v, err := value.NewValue[int64](0)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Free()
		ready, start, done := newValueFlag(b), newValueFlag(b), newValueFlag(b)
		half := b.N / 2
		p, err := proc.Start(valueAddPeer, v, ready, start, done, half)
		if err != nil {
			b.Fatal(err)
		}
		for ready.Load() == 0 {
			runtime.Gosched()
		}
		b.ResetTimer()
		start.Store(1)
		for range b.N - half {
			value.Add(v, 1)
		}
		// Wait for the peer without spinning, as wg.Wait parks in the baseline: on a loaded
		// 2-CPU machine a spinning waiter takes CPU time the peer needs.
		for done.Load() == 0 {
			time.Sleep(20 * time.Microsecond)
		}
		b.StopTimer()
		testutil.WaitOK(b, p)
		if got := v.Load(); got != int64(b.N) {
			b.Fatalf("counter %d, want %d", got, b.N)
		}
	})
	b.Run("atomic", func(b *testing.B) {
		var ctr struct {
			_ [64]byte
			n atomic.Int64
			_ [64]byte
		}
		var ready sync.WaitGroup
		var start atomic.Bool
		half := b.N / 2
		ready.Add(1)
		var wg sync.WaitGroup
		wg.Go(func() {
			ready.Done()
			for !start.Load() {
				runtime.Gosched()
			}
			for range half {
				ctr.n.Add(1)
			}
		})
		ready.Wait()
		b.ResetTimer()
		start.Store(true)
		for range b.N - half {
			ctr.n.Add(1)
		}
		wg.Wait()
		b.StopTimer()
		if got := ctr.n.Load(); got != int64(b.N) {
			b.Fatalf("counter %d, want %d", got, b.N)
		}
	})
	b.Run("python", func(b *testing.B) {
		n := max(b.N, 20_000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Value", "value_locked_add.py", 1, strconv.Itoa(n), "q")[0], "ns/op")
	})
}

const valueScanLen = 1 << 20

var valueScanSink float64

func valueSum(s []float64) float64 {
	t := 0.0
	for _, x := range s {
		t += x
	}
	return t
}

// BenchmarkArrayScan: one op is the sum of 1M float64s: shmkit, through the Slice view of a
// shared Array (the memory every process sees); slice, an ordinary Go slice; at, through
// Array.At, one atomic load per element; python, CPython's sum() over a
// multiprocessing.RawArray('d') (and numpy's, as a metric, when installed).
func BenchmarkArrayScan(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		arr, err := value.NewArray[float64](valueScanLen)
		if err != nil {
			b.Fatal(err)
		}
		defer arr.Free()
		s := arr.Slice()
		for i := range s {
			s[i] = float64(i) * 0.5
		}
		b.SetBytes(8 * valueScanLen)
		for b.Loop() {
			valueScanSink = valueSum(arr.Slice())
		}
	})
	b.Run("slice", func(b *testing.B) {
		s := make([]float64, valueScanLen)
		for i := range s {
			s[i] = float64(i) * 0.5
		}
		b.SetBytes(8 * valueScanLen)
		for b.Loop() {
			valueScanSink = valueSum(s)
		}
	})
	b.Run("at", func(b *testing.B) {
		arr, err := value.NewArray[float64](valueScanLen)
		if err != nil {
			b.Fatal(err)
		}
		defer arr.Free()
		for i := range valueScanLen {
			arr.Set(i, float64(i)*0.5)
		}
		b.SetBytes(8 * valueScanLen)
		for b.Loop() {
			t := 0.0
			for i := range arr.Len() {
				t += arr.At(i)
			}
			valueScanSink = t
		}
	})
	b.Run("python", func(b *testing.B) {
		v := python(b, "RawArray", "value_scan.py", 2, strconv.Itoa(valueScanLen))
		ns, np := v[0], v[1]
		b.ReportMetric(ns, "ns/op")
		if np >= 0 {
			b.ReportMetric(np, "numpy-ns/op")
		}
	})
}
