package fence_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/fence"
)

func TestStoreRelease(t *testing.T) {
	var x uint64
	fence.StoreRelease(&x, 42)
	fence.StoreRelease(&x, atomic.LoadUint64(&x)+1)
	if x != 43 {
		t.Fatalf("x = %d, want 43", x)
	}
}

// TestReleaseStoreDrains runs the store-then-load handshake the package exists for, many times,
// on two threads, without a fence: one side stores with StoreRelease and then loads; the other
// stores sequentially consistently and then loads. Both loads may miss (amd64 lets a store wait
// in the store buffer while a later load goes ahead); the sleeper must then see the store when it
// looks again after DrainBound, every time.
func TestReleaseStoreDrains(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	var x, y uint64
	var round atomic.Int64
	var seenA, seenB, lateB [2]uint64
	var wg sync.WaitGroup
	wg.Add(1)
	var done atomic.Int64
	go func() { // the sleeper's side
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := int64(1); i <= int64(rounds); i++ {
			for round.Load() < i {
			}
			atomic.StoreUint64(&y, uint64(i))
			seenB[i&1] = atomic.LoadUint64(&x)
			lateB[i&1] = seenB[i&1]
			if seenB[i&1] < uint64(i) {
				time.Sleep(fence.DrainBound)
				lateB[i&1] = atomic.LoadUint64(&x)
			}
			done.Store(i)
		}
	}()
	// The waker's side, which also checks each round once both sides are through it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	missed, late := 0, 0
	for i := int64(1); i <= int64(rounds); i++ {
		round.Store(i)
		fence.StoreRelease(&x, uint64(i))
		seenA[i&1] = atomic.LoadUint64(&y)
		for done.Load() < i {
		}
		if seenA[i&1] < uint64(i) && seenB[i&1] < uint64(i) {
			missed++
			if lateB[i&1] < uint64(i) {
				late++
			}
		}
	}
	wg.Wait()
	t.Logf("%d of %d rounds: both sides missed each other at first", missed, rounds)
	if late != 0 {
		t.Fatalf("%d of %d rounds: the sleeper still missed the store after DrainBound", late, rounds)
	}
}

// BenchmarkStoreRelease prices the publication store against its alternatives in the same run:
// /plain is an ordinary Go store (what StoreRelease was before it became assembly), /atomic
// sync/atomic's sequentially consistent store (an XCHG on amd64, which drains the store buffer).
// Each op stores to the same word, as a producer publishing its tail does.
func BenchmarkStoreRelease(b *testing.B) {
	var x [8]uint64
	b.Run("fence", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fence.StoreRelease(&x[0], uint64(i))
		}
	})
	b.Run("plain", func(b *testing.B) {
		p := &x[0]
		for i := 0; i < b.N; i++ {
			*p = uint64(i)
		}
	})
	b.Run("atomic", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			atomic.StoreUint64(&x[0], uint64(i))
		}
	})
}
