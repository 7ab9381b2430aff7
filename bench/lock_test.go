package bench_test

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
)

// The lock benchmarks' words (cache lines of a words cell).
const (
	lcCounter  = iota // the shared counter
	lcReady           // the peer is ready
	lcGo              // start
	lcLast            // pid of the process that incremented last
	lcSwitches        // how many times the lock passed from one process to the other
	lcDone            // the peer has finished its increments
)

var (
	_ = proc.Register(lockContendedPeer)
	_ = proc.Register(lockEventPonger)
)

// lockContendedPeer increments the counter n times under l once told to start.
func lockContendedPeer(l *lock.Lock, c *words, n int) error {
	atomic.StoreUint32(c.Line(lcReady), 1)
	for atomic.LoadUint32(c.Line(lcGo)) == 0 {
		runtime.Gosched()
	}
	err := lockIncrements(l, c, n)
	atomic.StoreUint32(c.Line(lcDone), 1)
	return err
}

func lockIncrements(l *lock.Lock, c *words, n int) error {
	ctr, last, sw := c.Line(lcCounter), c.Line(lcLast), c.Line(lcSwitches)
	me := uint32(os.Getpid())
	for range n {
		if err := l.Lock(); err != nil {
			return err
		}
		atomic.StoreUint32(ctr, atomic.LoadUint32(ctr)+1) // a plain read-modify-write, made safe by l
		if atomic.LoadUint32(last) != me {
			atomic.StoreUint32(last, me)
			atomic.StoreUint32(sw, atomic.LoadUint32(sw)+1)
		}
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

// lockEventPonger answers n pings: wait for ping, clear it, set pong.
func lockEventPonger(ping, pong *lock.Event, n int) error {
	for range n {
		if err := ping.WaitTimeout(time.Minute); err != nil {
			return err
		}
		if err := ping.Clear(); err != nil {
			return err
		}
		if err := pong.Set(); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkLockUncontended: one op is one Lock and Unlock by a single goroutine, nobody else
// using the lock: shmkit's lock.Lock against sync.Mutex and CPython's multiprocessing.Lock.
func BenchmarkLockUncontended(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		l, err := lock.NewLock()
		if err != nil {
			b.Fatal(err)
		}
		defer l.Free()
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock() //lint:ignore SA2001 the empty critical section is what is measured
		}
	})
	b.Run("python", func(b *testing.B) {
		n := max(b.N, 100_000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Lock", "lock_uncontended.py", 1, strconv.Itoa(n))[0], "ns/op")
	})
}

// BenchmarkLockContended: one op is one increment of a shared counter under a lock, by two
// workers at once: shmkit, two processes sharing a lock.Lock; sync.Mutex, two goroutines; python,
// two CPython processes incrementing multiprocessing.Value('i') under its lock.
func BenchmarkLockContended(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		l, err := lock.NewLock()
		if err != nil {
			b.Fatal(err)
		}
		defer l.Free()
		c := newWords(b)
		half := b.N / 2
		p, err := proc.Start(lockContendedPeer, l, c, half)
		if err != nil {
			b.Fatal(err)
		}
		for atomic.LoadUint32(c.Line(lcReady)) == 0 {
			runtime.Gosched()
		}
		b.ResetTimer()
		atomic.StoreUint32(c.Line(lcGo), 1)
		if err := lockIncrements(l, c, b.N-half); err != nil {
			b.Fatal(err)
		}
		for atomic.LoadUint32(c.Line(lcDone)) == 0 && p.IsAlive() {
			runtime.Gosched()
		}
		b.StopTimer()
		joinPeer(b, p)
		if got := atomic.LoadUint32(c.Line(lcCounter)); got != uint32(b.N) {
			b.Fatalf("counter %d, want %d", got, b.N)
		}
		// How often the lock changed hands between the processes: a barging lock keeps it in
		// one process for long runs, which is where its throughput comes from.
		b.ReportMetric(float64(atomic.LoadUint32(c.Line(lcSwitches)))/float64(b.N), "handoffs/op")
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		var ctr, last, switches int
		var wg sync.WaitGroup
		half := b.N / 2
		for id, n := range []int{half, b.N - half} {
			wg.Go(func() {
				for range n {
					mu.Lock()
					ctr++
					if last != id+1 {
						last = id + 1
						switches++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctr != b.N {
			b.Fatalf("counter %d, want %d", ctr, b.N)
		}
		b.ReportMetric(float64(switches)/float64(b.N), "handoffs/op")
	})
	b.Run("python", func(b *testing.B) {
		n := max(b.N, 20_000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Value", "value_locked_add.py", 1, strconv.Itoa(n), "i")[0], "ns/op")
	})
}

// BenchmarkEventPingPong: one op is one round trip between two processes: shmkit, each side sets
// an Event the other waits on (then clears it); pipe, a one-byte write and read each way over two
// os.Pipe pipes between the same two processes; python, the same with multiprocessing.Event.
func BenchmarkEventPingPong(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		ping, err := lock.NewEvent()
		if err != nil {
			b.Fatal(err)
		}
		defer ping.Free()
		pong, err := lock.NewEvent()
		if err != nil {
			b.Fatal(err)
		}
		defer pong.Free()
		p, err := proc.Start(lockEventPonger, ping, pong, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			ping.Set()
			if err := pong.WaitTimeout(time.Minute); err != nil {
				b.Fatal(err)
			}
			pong.Clear()
		}
		b.StopTimer()
		joinPeer(b, p)
	})
	b.Run("pipe", benchPipePingPong)
	b.Run("python", func(b *testing.B) {
		n := max(b.N, 2000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Event", "pingpong.py", 1, "event", strconv.Itoa(n))[0], "ns/op")
	})
}
