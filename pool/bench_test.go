package pool_test

import (
	"math/big"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/pool"
)

var _ = pool.Register(square64)

func square64(x int64) (int64, error) { return x * x, nil }

// sumExact sums non-negative int64s below 2^63 exactly: their high and low 32-bit halves apart,
// which cannot overflow for fewer than 2^31 of them.
func sumExact(xs []int64) *big.Int {
	var hi, lo uint64
	for _, x := range xs {
		hi += uint64(x) >> 32
		lo += uint64(x) & (1<<32 - 1)
	}
	return new(big.Int).Add(new(big.Int).Lsh(new(big.Int).SetUint64(hi), 32), new(big.Int).SetUint64(lo))
}

// benchPool starts a pool of 2 that the benchmark's end terminates.
func benchPool(b *testing.B, opts *pool.Options) *pool.Pool {
	b.Helper()
	if opts == nil {
		opts = &pool.Options{Workers: 2}
	}
	p, err := pool.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Terminate() })
	return p
}

// python runs testdata/pool_bench.py's baseline what, n times, and reports the nanoseconds per op
// the script timed (without Python's start-up) as the sub-benchmark's ns/op.
func python(b *testing.B, what string, least int) {
	py := testutil.Python3(b, "the CPython Pool "+what+" baseline")
	// b.N, not b.Loop: the script's run is what the framework times to choose the next b.N (an
	// empty b.Loop would ramp to a billion ops in a second); ns/op below replaces that timing.
	// At least least ops: the first run has b.N = 1 and, with Python's start-up, may take the
	// whole bench time on a loaded machine, and one op is then all the figure would rest on.
	out, err := exec.Command(py, "testdata/pool_bench.py", what, strconv.Itoa(max(b.N, least))).CombinedOutput()
	if err != nil {
		b.Fatalf("pool_bench.py %s: %v: %s", what, err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("pool_bench.py %s said %q", what, out)
	}
	b.ReportMetric(ns, "ns/op")
}

const squaresSum = "333333383333335000000"

// BenchmarkPoolMapSquares: the sum of x² over 1..10,000,000 through Map on a Pool of 2, results
// summed exactly; /serial is the same Map semantics (a result slice, then the sum) in one
// goroutine. One op is the whole 10M map.
func BenchmarkPoolMapSquares(b *testing.B) {
	const n = 10_000_000
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i + 1)
	}
	check := func(b *testing.B, got []int64) {
		if s := sumExact(got).String(); s != squaresSum {
			b.Fatalf("sum %s, want %s", s, squaresSum)
		}
	}
	b.Run("shmkit", func(b *testing.B) {
		p := benchPool(b, nil)
		for b.Loop() {
			got, err := pool.Map(p, square64, xs)
			if err != nil {
				b.Fatal(err)
			}
			check(b, got)
		}
	})
	b.Run("python", func(b *testing.B) { python(b, "map", 1) })
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			got := make([]int64, n)
			for i, x := range xs {
				got[i], _ = square64(x)
			}
			check(b, got)
		}
	})
}

// BenchmarkPoolApply: one tiny task, submitted and its result received; /goroutine does the same
// with a goroutine and channels.
func BenchmarkPoolApply(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		p := benchPool(b, nil)
		for b.Loop() {
			if v, err := pool.Apply(p, square64, 3); err != nil || v != 9 {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("python", func(b *testing.B) { python(b, "apply", 2000) })
	b.Run("goroutine", func(b *testing.B) {
		in, out := make(chan int64), make(chan int64)
		defer close(in)
		go func() {
			for x := range in {
				v, _ := square64(x)
				out <- v
			}
		}()
		for b.Loop() {
			in <- 3
			if v := <-out; v != 9 {
				b.Fatal(v)
			}
		}
	})
}

// BenchmarkPoolStart: a Pool of 2 started, one task run, closed and joined.
func BenchmarkPoolStart(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		for b.Loop() {
			p, err := pool.New(&pool.Options{Workers: 2})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Apply(p, square64, 3); err != nil {
				b.Fatal(err)
			}
			p.Close()
			if err := p.Join(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("python", func(b *testing.B) { python(b, "start", 5) })
}

// BenchmarkPoolWorkerDeath reports the time from a worker's SIGKILL to its task's error, as the
// metric ns/death (the median of the ops; ns/op also counts the task's start and the worker's
// replacement).
func BenchmarkPoolWorkerDeath(b *testing.B) {
	c := testutil.NewCell(b, 64)
	p := benchPool(b, &pool.Options{Workers: 2, Initializer: useCell, InitArgs: []any{c}})
	var lat []time.Duration
	for b.Loop() {
		ar, err := pool.ApplyAsync(p, hang, 0)
		if err != nil {
			b.Fatal(err)
		}
		if !testutil.Eventually(never, func() bool { return c.Get(0) != 0 }) {
			b.Fatal("the task did not start")
		}
		pid := int(c.Get(0))
		c.Set(0, 0)
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		<-ar.Done()
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "ns/death")
}

// BenchmarkPoolApplySpin compares, under the same load, Apply round trips on pools whose worker
// and caller watch before they sleep (see spins in worker.go) for the times each variant names:
// none is neither watching, caller20+worker50 the default. Each op runs 100 Applies on every pool
// in turn (the order rotating); the metrics are the median µs per Apply of each, over the ops. On
// a shared machine this pairing is what makes the settings comparable: separate sub-benchmarks
// run seconds apart, under different loads.
func BenchmarkPoolApplySpin(b *testing.B) {
	const us = time.Microsecond
	variants := []struct {
		name           string
		worker, caller time.Duration
	}{{"none", 0, 0}, {"caller20", 0, 20 * us}, {"caller20+worker50", 50 * us, 20 * us}, {"caller50+worker50", 50 * us, 50 * us}, {"caller20+worker100", 100 * us, 20 * us}}
	pools := make([]*pool.Pool, len(variants))
	for i, v := range variants {
		restore := pool.SetSpins(v.worker, v.caller)
		pools[i] = benchPool(b, nil)
		restore()
	}
	lat := make([][]float64, len(variants))
	round := 0
	for b.Loop() {
		for k := range variants {
			i := (k + round) % len(variants)
			t0 := time.Now()
			for range 100 {
				if v, err := pool.Apply(pools[i], square64, 3); err != nil || v != 9 {
					b.Fatal(v, err)
				}
			}
			lat[i] = append(lat[i], float64(time.Since(t0).Nanoseconds())/100/1e3)
		}
		round++
	}
	for i, v := range variants {
		sort.Float64s(lat[i])
		b.ReportMetric(lat[i][len(lat[i])/2], "µs/"+v.name)
	}
}

var _ = pool.Register(pidOf)

func pidOf(int) (int, error) { return syscall.Getpid(), nil }

// BenchmarkPoolReplace: on a Pool of 1, the time from its worker's SIGKILL to the result of the
// next Apply, which waits for the replacement: /spare with the pool's warm spare (ready before
// each kill), /cold without one (a cold process start each time). The two pools take turns in
// each op, so both see the same load; the metrics are the medians.
func BenchmarkPoolReplace(b *testing.B) {
	warm := benchPool(b, &pool.Options{Workers: 1})
	restore := pool.SetNoSpare(true)
	cold := benchPool(b, &pool.Options{Workers: 1})
	restore()
	var lat [2][]float64
	for b.Loop() {
		for i, p := range []*pool.Pool{warm, cold} {
			pid, err := pool.Apply(p, pidOf, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			time.Sleep(50 * time.Millisecond) // the spare, started with the last replacement, is ready
			b.StartTimer()
			t0 := time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			if next, err := pool.Apply(p, pidOf, 0); err != nil || next == pid {
				b.Fatal(next, err)
			}
			lat[i] = append(lat[i], float64(time.Since(t0).Microseconds()))
		}
	}
	for i, name := range []string{"spare", "cold"} {
		sort.Float64s(lat[i])
		b.ReportMetric(lat[i][len(lat[i])/2], "µs/"+name)
	}
}
