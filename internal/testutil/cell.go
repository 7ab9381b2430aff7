package testutil

import (
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/shm"
)

// A Cell is a block of shared memory for a multi-process test's own bookkeeping: flags, counters,
// pids, bitmaps. Pass it to a child as an argument of type *testutil.Cell; the child rebuilds it
// over the same memory.
type Cell struct {
	ref shm.Ref
	b   []byte
}

// CellKind is the kind of a Cell's heap block.
var CellKind shm.Kind

func init() {
	CellKind = shm.RegisterKind("testutil.Cell", func(r shm.Ref) (any, error) { return OpenCell(r) })
}

// NewCell allocates a zeroed Cell of size bytes in the default heap, freed when the test ends.
func NewCell(t testing.TB, size int) *Cell {
	t.Helper()
	ref, err := shm.Alloc(size, CellKind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shm.Free(ref); err != nil {
			t.Errorf("free test cell: %v", err)
		}
	})
	c, err := OpenCell(ref)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// OpenCell returns the Cell that ref names (allocated with kind CellKind in any heap).
func OpenCell(ref shm.Ref) (*Cell, error) {
	_, b, err := shm.Resolve(ref, CellKind)
	if err != nil {
		return nil, err
	}
	return &Cell{ref: ref, b: b}, nil
}

// Ref returns the Cell's Ref.
func (c *Cell) Ref() shm.Ref { return c.ref }

// Bytes returns the Cell's memory.
func (c *Cell) Bytes() []byte { return c.b }

// W32 returns the i-th 32-bit word.
func (c *Cell) W32(i int) *uint32 { return shm.Word32(c.b, 4*i) }

// W64 returns the i-th 64-bit word.
func (c *Cell) W64(i int) *uint64 { return shm.Word64(c.b, 8*i) }

// Line returns a 32-bit word alone on the i-th 64-byte cache line, for words that two processes
// hammer (benchmarks), so that they do not share a line.
func (c *Cell) Line(i int) *uint32 { return shm.Word32(c.b, 64*i) }

// Get loads the i-th 32-bit word atomically.
func (c *Cell) Get(i int) uint32 { return atomic.LoadUint32(c.W32(i)) }

// Set stores the i-th 32-bit word atomically.
func (c *Cell) Set(i int, v uint32) { atomic.StoreUint32(c.W32(i), v) }

// WaitFor polls the i-th 32-bit word until it holds v (another process's progress) and fails the
// test if that has not happened within 10 s.
func (c *Cell) WaitFor(t testing.TB, i int, v uint32) {
	t.Helper()
	if !Eventually(10*time.Second, func() bool { return c.Get(i) == v }) {
		t.Fatalf("testutil: word %d never reached %d (it is %d)", i, v, c.Get(i))
	}
}

// ReusedPid starts an unrelated process (sleep) and records, in seg's peer table, an entry for
// its pid with a start time it does not have: the trace of an earlier process that held the pid,
// died, and whose number the sleeper now reuses. It returns the pid and the sleeper's real start
// time, and removes the sleeper and the entry when the test ends. A test stores the pid in an
// object of seg as a dead owner would have and checks that the owner is found dead.
func ReusedPid(t testing.TB, seg *shm.Segment) (pid int, real uint64) {
	t.Helper()
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	pid = sleeper.Process.Pid
	real, err := pids.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	fake := uint64(pid) | (real-1)<<shm.PeerStartShift // started a tick before: another process
	b := seg.Bytes()
	for i := 0; i < shm.NumPeers; i++ {
		w := shm.Word64(b, shm.PeersOffset+8*i)
		if atomic.CompareAndSwapUint64(w, 0, fake) {
			t.Cleanup(func() { atomic.CompareAndSwapUint64(w, fake, 0) })
			return pid, real
		}
	}
	t.Fatal("the segment's peer table is full")
	return 0, 0
}

// LivePeer records, in seg's peer table, pid with its real start time (as the process itself
// would when it attached), and removes the entry when the test ends.
func LivePeer(t testing.TB, seg *shm.Segment, pid int, start uint64) {
	t.Helper()
	live := uint64(pid) | start<<shm.PeerStartShift
	b := seg.Bytes()
	for i := 0; i < shm.NumPeers; i++ {
		w := shm.Word64(b, shm.PeersOffset+8*i)
		if atomic.CompareAndSwapUint64(w, 0, live) {
			t.Cleanup(func() { atomic.CompareAndSwapUint64(w, live, 0) })
			return
		}
	}
	t.Fatal("the segment's peer table is full")
}
