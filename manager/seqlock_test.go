package manager_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
)

// seqTable is the other design the issue names, built only to measure it against the Dict's
// copy-on-write entries (BenchmarkDictGet/seqlock, BenchmarkDictSet/seqlock): a fixed table of
// 8-byte keys and values stored in place, in shared memory, with 16 stripes each guarded by a
// sequence lock (odd while a writer of the stripe writes; a reader retries when its stripe's
// sequence moved) and a compare-and-swap lock serialising the stripe's writers. It is the
// seqlock's best case: no growth, fixed-size values, no codec, no allocation, and a writer lock
// that is not robust (a writer killed inside leaves its stripe odd and locked for good; see
// docs/manager.md for what kill safety would add).
type seqTable struct {
	meta  []uint32 // per stripe: seq at 16*i, lock at 16*i+1 (64 bytes apart)
	slots []uint64 // key+1, value; 0 is an empty key
	mask  uint64
}

const (
	seqStripes = 16
	seqSlots   = 1 << 14
	seqSize    = seqStripes*64 + seqSlots*16
)

func openSeq(c *testutil.Cell) *seqTable {
	b := c.Bytes()
	return &seqTable{
		meta:  unsafeWords32(b[:seqStripes*64]),
		slots: unsafeWords64(b[seqStripes*64 : seqSize]),
		mask:  seqSlots - 1,
	}
}

func seqMix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (t *seqTable) get(k uint64) (uint64, bool) {
	h := seqMix(k)
	seq := &t.meta[16*(h>>60)]
	for {
		s := atomic.LoadUint32(seq)
		if s&1 != 0 {
			runtime.Gosched()
			continue
		}
		var v uint64
		ok := false
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			kk := atomic.LoadUint64(&t.slots[2*i])
			if kk == 0 {
				break
			}
			if kk == k+1 {
				v, ok = atomic.LoadUint64(&t.slots[2*i+1]), true
				break
			}
		}
		if atomic.LoadUint32(seq) == s {
			return v, ok
		}
	}
}

func (t *seqTable) set(k, v uint64) {
	h := seqMix(k)
	seq, lk := &t.meta[16*(h>>60)], &t.meta[16*(h>>60)+1]
	for !atomic.CompareAndSwapUint32(lk, 0, 1) {
		runtime.Gosched()
	}
	atomic.AddUint32(seq, 1)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		kk := atomic.LoadUint64(&t.slots[2*i])
		if kk == 0 {
			atomic.StoreUint64(&t.slots[2*i+1], v)
			atomic.StoreUint64(&t.slots[2*i], k+1)
			break
		}
		if kk == k+1 {
			atomic.StoreUint64(&t.slots[2*i+1], v)
			break
		}
	}
	atomic.AddUint32(seq, 1)
	atomic.StoreUint32(lk, 0)
}

var _ = proc.Register(seqWorker)

// seqWorker is benchWorker for the seqTable: the second process of the /seqlock benchmarks.
func seqWorker(c, ready *testutil.Cell, set bool, n int) error {
	t := openSeq(c)
	atomic.AddUint32(ready.W32(0), 1)
	for atomic.LoadUint32(ready.W32(1)) == 0 {
		runtime.Gosched()
	}
	seqLoop(t, set, n, 3)
	return nil
}

func seqLoop(t *seqTable, set bool, n int, k uint64) {
	for i := range n {
		k = (k + 7) % benchKeys
		if set {
			t.set(k, uint64(i))
		} else {
			t.get(k)
		}
	}
}

// benchSeq is benchDict for the seqTable: this process and a child, b.N calls each at once.
func benchSeq(b *testing.B, set bool) {
	c := testutil.NewCell(b, seqSize)
	t := openSeq(c)
	for k := range uint64(benchKeys) {
		t.set(k, k)
	}
	ready := testutil.NewCell(b, 64)
	p, err := proc.Start(seqWorker, c, ready, set, b.N)
	if err != nil {
		b.Fatal(err)
	}
	for atomic.LoadUint32(ready.W32(0)) == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	atomic.StoreUint32(ready.W32(1), 1)
	seqLoop(t, set, b.N, 0)
	if err := p.Join(proc.Forever); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportCPU(b, cpu0, 2)
	if code, _ := p.ExitCode(); code != 0 {
		b.Fatalf("child exited %d", code)
	}
}

// The seqTable must be right before it is measured: every key reads back its last value, from a
// second process too.
func TestSeqTable(t *testing.T) {
	c := testutil.NewCell(t, seqSize)
	st := openSeq(c)
	for k := range uint64(benchKeys) {
		st.set(k, k*5)
	}
	for k := range uint64(benchKeys) {
		if v, ok := st.get(k); !ok || v != k*5 {
			t.Fatalf("key %d: %d %v", k, v, ok)
		}
	}
	if _, ok := st.get(benchKeys + 1); ok {
		t.Fatal("an absent key was found")
	}
}

func unsafeWords32(b []byte) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func unsafeWords64(b []byte) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
}
