package manager_test

import (
	"context"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

const benchKeys = 10_000

var (
	_ = proc.Register(benchWorker)
	_ = proc.Register(pong)
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
func benchDict(b *testing.B, set bool) {
	d, err := manager.NewDict[uint64, uint64]()
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
	atomic.StoreUint32(c.W32(1), 1)
	if err := benchLoop(d, set, b.N, 0); err != nil {
		b.Fatal(err)
	}
	if err := p.Join(proc.Forever); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
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

// BenchmarkDictGet: two processes calling Get at once on 10,000 8-byte keys and values (shmkit),
// against sync.Map.Load from two goroutines (syncmap) and CPython's Manager().dict() from two
// child processes (python). One op is one call, in each process.
func BenchmarkDictGet(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) { benchDict(b, false) })
	b.Run("syncmap", func(b *testing.B) { benchSyncMap(b, false) })
	b.Run("python", func(b *testing.B) { benchPython(b, "get") })
}

// BenchmarkDictSet is BenchmarkDictGet for Set (sync.Map.Store, the proxy's __setitem__).
func BenchmarkDictSet(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) { benchDict(b, true) })
	b.Run("syncmap", func(b *testing.B) { benchSyncMap(b, true) })
	b.Run("python", func(b *testing.B) { benchPython(b, "set") })
}

// pong answers each value of "ping" by setting "pong" to it, seen through Watch.
func pong(d *manager.Dict[string, int], c *testutil.Cell) error {
	ch, err := d.Watch(context.Background(), "ping")
	if err != nil {
		return err
	}
	atomic.StoreUint32(c.W32(0), 1)
	for ch := range ch {
		if ch.Err != nil {
			return ch.Err
		}
		if ch.Deleted {
			return nil
		}
		if err := d.Set("pong", ch.Value); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkDictWatch: a Set in one process to the Watch in another, and back (a round trip of
// two deliveries). median-us is the median one-way delivery: half the median round trip.
// pingpong sends the next Set at once, so the watchers are still spinning after the last change;
// parked waits 1 ms between round trips, so that both watchers have parked in the kernel.
func BenchmarkDictWatch(b *testing.B) {
	b.Run("pingpong", func(b *testing.B) { benchWatch(b, 0) })
	b.Run("parked", func(b *testing.B) { benchWatch(b, time.Millisecond) })
}

func benchWatch(b *testing.B, gap time.Duration) {
	d, err := manager.NewDict[string, int]()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Free()
	c := testutil.NewCell(b, 64)
	ch, err := d.Watch(context.Background(), "pong")
	if err != nil {
		b.Fatal(err)
	}
	p, err := proc.Start(pong, d, c)
	if err != nil {
		b.Fatal(err)
	}
	for atomic.LoadUint32(c.W32(0)) == 0 {
		time.Sleep(time.Millisecond)
	}
	rtt := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if gap > 0 {
			time.Sleep(gap)
		}
		t0 := time.Now()
		if err := d.Set("ping", i); err != nil {
			b.Fatal(err)
		}
		for got := <-ch; got.Value != i; got = <-ch {
		}
		rtt = append(rtt, time.Since(t0))
	}
	b.StopTimer()
	d.Delete("ping")
	p.Join(proc.Forever)
	d.Close()
	slices.Sort(rtt)
	b.ReportMetric(float64(rtt[len(rtt)/2].Nanoseconds())/2e3, "median-us")
}
