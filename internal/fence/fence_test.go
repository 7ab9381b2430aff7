package fence_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/fence"
)

func TestRegister(t *testing.T) {
	// membarrier's global expedited commands exist since Linux 4.16; every kernel this project
	// supports has them, so a failure here is a failure, not a skip.
	if !fence.Register() {
		t.Fatal("membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) failed")
	}
	if !fence.Available() || !fence.Heavy() {
		t.Fatal("Heavy failed after Register")
	}
}

func TestStoreRelease(t *testing.T) {
	var x uint64
	fence.StoreRelease(&x, 42)
	fence.StoreOrdered(&x, atomic.LoadUint64(&x)+1)
	if x != 43 {
		t.Fatalf("x = %d, want 43", x)
	}
}

// TestDekker runs the store-then-load handshake the package exists for, many times, on two
// threads: one side stores with StoreRelease and then loads; the other stores sequentially
// consistently, runs Heavy and then loads. At least one of them must see the other's store.
// (With an ordinary store and no Heavy, amd64 lets both loads miss: store buffering.)
func TestDekker(t *testing.T) {
	if !fence.Register() {
		t.Fatal("fence unavailable")
	}
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	var x, y uint64
	var round atomic.Int64
	var seenA, seenB [2]uint64
	var wg sync.WaitGroup
	start := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			f()
		}()
	}
	missed := 0
	var done atomic.Int64
	start(func() { // the sleeper's side
		for i := int64(1); i <= int64(rounds); i++ {
			for round.Load() < i {
			}
			atomic.StoreUint64(&y, uint64(i))
			fence.Heavy()
			seenB[i&1] = atomic.LoadUint64(&x)
			done.Store(i)
		}
	})
	// The hot side, which also checks each round once both sides are through it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := int64(1); i <= int64(rounds); i++ {
		round.Store(i)
		fence.StoreRelease(&x, uint64(i))
		seenA[i&1] = atomic.LoadUint64(&y)
		for done.Load() < i {
		}
		if seenA[i&1] < uint64(i) && seenB[i&1] < uint64(i) {
			missed++
		}
	}
	wg.Wait()
	if missed != 0 {
		t.Fatalf("%d of %d rounds: neither side saw the other's store", missed, rounds)
	}
}

// BenchmarkHeavy measures one heavy fence beside a trivial system call (getppid), with no other
// thread of this process running and with one spinning on the other CPU, which every fence
// interrupts. For the latter, peer-ns/op is the time the spinning thread loses per fence: its
// rate of iterations while fences run, against its rate while this thread sleeps.
func BenchmarkHeavy(b *testing.B) {
	if !fence.Register() {
		b.Fatal("fence unavailable")
	}
	b.Run("getppid", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			unix.Getppid()
		}
	})
	b.Run("heavy", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fence.Heavy()
		}
	})
	b.Run("heavy-busy-peer", func(b *testing.B) {
		var spins, stop atomic.Int64
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			n := int64(0)
			for stop.Load() == 0 {
				if n++; n%256 == 0 {
					spins.Store(n)
				}
			}
			close(done)
		}()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// The peer's rate alone, over 20 ms.
		s0, t0 := spins.Load(), time.Now()
		time.Sleep(20 * time.Millisecond)
		alone := float64(spins.Load()-s0) / float64(time.Since(t0))
		b.ResetTimer()
		s1, t1 := spins.Load(), time.Now()
		for i := 0; i < b.N; i++ {
			fence.Heavy()
		}
		elapsed := time.Since(t1)
		during := float64(spins.Load()-s1) / float64(elapsed)
		b.StopTimer()
		stop.Store(1)
		<-done
		if alone > 0 {
			b.ReportMetric((1-during/alone)*float64(elapsed)/float64(b.N), "peer-ns/op")
		}
	})
}
