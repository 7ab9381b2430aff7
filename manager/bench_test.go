package manager_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

const benchKeys = 10_000

var (
	_ = proc.Register(benchWorker)
	_ = proc.Register(ticker)
)

// benchWorker is the second process of BenchmarkDictGet and BenchmarkDictSet: it says it is ready
// (word 0 of c), waits for the go (word 1), and makes n calls.
func benchWorker(d *manager.Dict[uint64, uint64], c *testutil.Cell, set bool, n int) error {
	atomic.AddUint32(c.W32(0), 1)
	for atomic.LoadUint32(c.W32(1)) == 0 {
		runtime.Gosched()
	}
	return benchLoop(d, set, n, 3)
}

func benchLoop(d *manager.Dict[uint64, uint64], set bool, n int, k uint64) error {
	for i := range n {
		k = (k + 7) % benchKeys
		if set {
			if err := d.Set(k, uint64(i)); err != nil {
				return err
			}
		} else if _, _, err := d.Get(k); err != nil {
			return err
		}
	}
	return nil
}

// benchDict runs the shmkit side: this process and one child, b.N calls each, at once, on a
// Dict of 10,000 uint64 keys and values. ns/op is the time of one call in each process.
func benchDict(b *testing.B, set bool, stripes int) {
	d, err := manager.NewDictStripes[uint64, uint64](stripes)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Free()
	for k := range uint64(benchKeys) {
		if err := d.Set(k, k); err != nil {
			b.Fatal(err)
		}
	}
	c := testutil.NewCell(b, 64)
	p, err := proc.Start(benchWorker, d, c, set, b.N)
	if err != nil {
		b.Fatal(err)
	}
	for atomic.LoadUint32(c.W32(0)) == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	atomic.StoreUint32(c.W32(1), 1)
	if err := benchLoop(d, set, b.N, 0); err != nil {
		b.Fatal(err)
	}
	if err := p.Join(proc.Forever); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportCPU(b, cpu0, 2)
	if code, _ := p.ExitCode(); code != 0 {
		b.Fatalf("child exited %d", code)
	}
}

// benchSyncMap is the baseline: sync.Map, two goroutines, b.N calls each.
func benchSyncMap(b *testing.B, set bool) {
	var m sync.Map
	for k := range uint64(benchKeys) {
		m.Store(k, k)
	}
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := uint64(3 * g)
			for i := range b.N {
				k = (k + 7) % benchKeys
				if set {
					m.Store(k, uint64(i))
				} else {
					m.Load(k)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportCPU(b, cpu0, 2)
}

// cpuTime returns the CPU time (user and system) this process and its waited-for children have
// used. On this shared machine a process gets a varying share of a processor, so wall time per
// operation varies with the other load; CPU time per operation much less.
func cpuTime() time.Duration {
	var self, kids unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &self) != nil || unix.Getrusage(unix.RUSAGE_CHILDREN, &kids) != nil {
		return 0
	}
	tv := func(t unix.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// reportCPU reports cpu-ns/op: the CPU time since cpu0, over b.N calls in each of workers.
func reportCPU(b *testing.B, cpu0 time.Duration, workers int) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(workers*b.N), "cpu-ns/op")
}

// benchPython runs testdata/dict_bench.py: CPython's Manager().dict() used from two child
// processes at once.
func benchPython(b *testing.B, op string) {
	py := testutil.Python3(b, "the CPython Manager().dict() baseline")
	n := 3000 // the script's own start-up is excluded from what it measures
	out, err := exec.Command(py, "testdata/dict_bench.py", op, strconv.Itoa(n)).Output()
	if err != nil {
		b.Fatalf("dict_bench.py: %v: %s", err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("dict_bench.py said %q", out)
	}
	b.ReportMetric(ns, "ns/op")
}

// BenchmarkDictGet: two processes calling Get at once on 10,000 8-byte keys and values (shmkit;
// shmkit-1stripe: a Dict whose writers share one lock, the design before striping;
// shmkit-load50: tables grown at half full rather than three quarters), against
// a sequence-locked table in shared memory (seqlock: the other design the issue names, see
// seqlock_test.go), sync.Map.Load from two goroutines (syncmap) and CPython's Manager().dict()
// from two child processes (python). One op is one call, in each process.
func BenchmarkDictGet(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) { benchDict(b, false, 16) })
	b.Run("shmkit-1stripe", func(b *testing.B) { benchDict(b, false, 1) })
	b.Run("shmkit-load50", func(b *testing.B) {
		defer manager.SetMaxLoad(2)()
		benchDict(b, false, 16)
	})
	b.Run("seqlock", func(b *testing.B) { benchSeq(b, false) })
	b.Run("syncmap", func(b *testing.B) { benchSyncMap(b, false) })
	b.Run("python", func(b *testing.B) { benchPython(b, "get") })
}

// BenchmarkDictSet is BenchmarkDictGet for Set (sync.Map.Store, the proxy's __setitem__).
func BenchmarkDictSet(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) { benchDict(b, true, 16) })
	b.Run("shmkit-1stripe", func(b *testing.B) { benchDict(b, true, 1) })
	b.Run("seqlock", func(b *testing.B) { benchSeq(b, true) })
	b.Run("syncmap", func(b *testing.B) { benchSyncMap(b, true) })
	b.Run("python", func(b *testing.B) { benchPython(b, "set") })
}

// monoNow reads CLOCK_MONOTONIC, which (unlike the monotonic part of time.Now) is the same clock
// in every process: the one-way latencies below compare a child's reading with the parent's.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// Words of the benchmark's Cell shared with the ticker child.
const (
	cReady = 0 // W32: the child is ready
	cAck   = 1 // W32: the parent has seen change number ack
	cFutex = 2 // W32: the futex floor's wake word
	cStamp = 2 // W64 (bytes 16-23): the futex floor's time stamp
)

// ticker makes n changes, each gap after the parent saw the previous one: with watch, a Set of
// "k" to the time of the Set; without, the same stamp in the Cell and a futex wake of its word
// (the floor: a bare futex wake of a parked thread in another process). Gaps of a millisecond or
// more sleep; shorter ones spin, as a process busy with other work between its writes would.
func ticker(d *manager.Dict[string, int64], c *testutil.Cell, watch bool, gap time.Duration, n int) error {
	atomic.StoreUint32(c.W32(cReady), 1)
	for i := 1; i <= n; i++ {
		for t0 := time.Now(); atomic.LoadUint32(c.W32(cAck)) != uint32(i-1); runtime.Gosched() {
			if time.Since(t0) > 10*time.Second {
				return fmt.Errorf("change %d: no ack of change %d in 10 s (ack is %d)", i, i-1, atomic.LoadUint32(c.W32(cAck)))
			}
		}
		if gap >= time.Millisecond {
			time.Sleep(gap)
		} else {
			for t := time.Now(); time.Since(t) < gap; {
			}
		}
		if watch {
			if err := d.Set("k", monoNow()); err != nil {
				return err
			}
			continue
		}
		atomic.StoreUint64(c.W64(cStamp), uint64(monoNow()))
		atomic.AddUint32(c.W32(cFutex), 1)
		if _, err := futex.Wake(c.W32(cFutex), 1); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkDictWatch: a Set in one process to the Watch in another, one way (both read
// CLOCK_MONOTONIC); median-us is the median over the run, p90-us the 90th percentile. The child
// makes each Set a gap after the parent saw the previous one:
//
//   - idle: 1 ms gaps, so the watcher has parked in the kernel; futex is the floor under it, a
//     bare futex wake of a thread parked in another process, with no Dict and no Go channel;
//   - active: 50 µs gaps, the watcher under three spin policies: nospin (park at once), spin20
//     (a fixed 20 µs spin, the previous policy) and adaptive (the default);
//   - b2b: back to back, the default policy.
func BenchmarkDictWatch(b *testing.B) {
	idle, active := time.Millisecond, 50*time.Microsecond
	b.Run("idle/futex", func(b *testing.B) { benchWatch(b, false, idle) })
	b.Run("idle/watch", func(b *testing.B) { benchWatch(b, true, idle) })
	b.Run("active/nospin", func(b *testing.B) {
		defer manager.SetWatchSpin(0, false)()
		benchWatch(b, true, active)
	})
	b.Run("active/spin20", func(b *testing.B) {
		defer manager.SetWatchSpin(20*time.Microsecond, false)()
		benchWatch(b, true, active)
	})
	b.Run("active/adaptive", func(b *testing.B) { benchWatch(b, true, active) })
	b.Run("b2b/adaptive", func(b *testing.B) { benchWatch(b, true, 0) })
}

func benchWatch(b *testing.B, watch bool, gap time.Duration) {
	d, err := manager.NewDict[string, int64]()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Free()
	c := testutil.NewCell(b, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := d.Watch(ctx, "k")
	if err != nil {
		b.Fatal(err)
	}
	p, err := proc.Start(ticker, d, c, watch, gap, b.N)
	if err != nil {
		b.Fatal(err)
	}
	for atomic.LoadUint32(c.W32(cReady)) == 0 {
		time.Sleep(time.Millisecond)
	}
	lat := make([]int64, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		var stamp int64
		if watch {
			var got manager.Change[int64]
			select {
			case got = <-ch:
			case <-time.After(10 * time.Second):
				b.Fatalf("change %d not delivered in 10 s", i)
			}
			if got.Err != nil || got.Deleted {
				b.Fatalf("change %d: %+v", i, got)
			}
			stamp = got.Value
		} else {
			for atomic.LoadUint32(c.W32(cFutex)) != uint32(i) {
				if err := futex.Wait(c.W32(cFutex), uint32(i-1), time.Second); err != nil && !errors.Is(err, futex.ErrTimeout) {
					b.Fatal(err)
				}
			}
			stamp = int64(atomic.LoadUint64(c.W64(cStamp)))
		}
		lat = append(lat, monoNow()-stamp)
		atomic.StoreUint32(c.W32(cAck), uint32(i))
	}
	b.StopTimer()
	if err := p.Join(proc.Forever); err != nil {
		b.Fatal(err)
	}
	if code, _ := p.ExitCode(); code != 0 {
		b.Fatalf("child exited %d", code)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "median-us")
	b.ReportMetric(float64(lat[len(lat)*9/10])/1e3, "p90-us")
}
