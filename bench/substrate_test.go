package bench_test

import (
	"fmt"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

// words is a heap block of words shared with a peer process, each on its own cache line
// (Line(i)).
type words = testutil.Cell

func newWords(b *testing.B) *words { return testutil.NewCell(b, 64*8) }

var (
	_ = proc.Register(emptyTarget)
	_ = proc.Register(futexPonger)
)

func emptyTarget() {}

// futexPonger answers each ping (word 0 := i) with a pong (word 1 := i), parking in the kernel
// whenever the ping has not come yet.
func futexPonger(w *words, n int) error {
	ping, pong := w.Line(0), w.Line(1)
	for i := uint32(1); i <= uint32(n); i++ {
		for atomic.LoadUint32(ping) != i {
			if err := futex.Wait(ping, i-1, 10*time.Second); err != nil {
				return fmt.Errorf("ping %d: %w", i, err)
			}
		}
		atomic.StoreUint32(pong, i)
		futex.Wake(pong, 1)
	}
	return nil
}

// BenchmarkProcessStart: one op is one start and join of a child. shmkit re-executes this binary
// and runs an empty registered target; exec-true runs /bin/true through os/exec, the floor the OS
// gives for starting a program; python, multiprocessing.Process (bench/python/process_start.py).
func BenchmarkProcessStart(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		for b.Loop() {
			p, err := proc.Start(emptyTarget)
			if err != nil {
				b.Fatal(err)
			}
			joinPeer(b, p)
		}
	})
	b.Run("exec-true", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("python", func(b *testing.B) {
		// multiprocessing.Process(target=empty).start() and join(): ns/op with the fork start
		// method (the bar: shmkit must beat it), spawn-ns/op with spawn (a fresh
		// interpreter, the closer twin of a re-exec).
		v := python(b, "multiprocessing.Process", "process_start.py", 2, strconv.Itoa(b.N))
		b.ReportMetric(v[0], "ns/op")
		b.ReportMetric(v[1], "spawn-ns/op")
	})
}

// BenchmarkFutexPingPong: one op is one round trip between two processes. shmkit: each side
// stores a word and wakes the other through futex words, parking in the kernel to wait; pipe: a
// one-byte write and read each way over two os.Pipe pipes between the same two processes;
// python: two multiprocessing.Semaphore(0) released and acquired in turn.
func BenchmarkFutexPingPong(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		w := newWords(b)
		p, err := proc.Start(futexPonger, w, b.N)
		if err != nil {
			b.Fatal(err)
		}
		ping, pong := w.Line(0), w.Line(1)
		b.ResetTimer()
		for i := uint32(1); i <= uint32(b.N); i++ {
			atomic.StoreUint32(ping, i)
			futex.Wake(ping, 1)
			for atomic.LoadUint32(pong) != i {
				if err := futex.Wait(pong, i-1, 10*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		joinPeer(b, p)
	})
	b.Run("pipe", benchPipePingPong)
	b.Run("python", func(b *testing.B) {
		// Two multiprocessing.Semaphore(0) released and acquired in turn: sem_post/sem_wait,
		// which glibc builds on a futex word; Python has no futex of its own.
		n := max(b.N, 2000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Semaphore", "pingpong.py", 1, "sem", strconv.Itoa(n))[0], "ns/op")
	})
}

var sink *[64]byte

// BenchmarkHeapAlloc: one op is one allocation and free of a 64-byte object: in the shared heap
// (shmkit), by Go's new (its cost includes the garbage collector's work to free it), or in
// multiprocessing's shared heap (python: RawArray('B', 64), then del).
func BenchmarkHeapAlloc(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		h, err := shm.Default()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ref, err := h.Alloc(64, testutil.CellKind)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Free(ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = new([64]byte)
		}
	})
	b.Run("python", func(b *testing.B) {
		// RawArray('B', 64) and del: a block of multiprocessing's shared heap taken and given
		// back (bench/python/heap_alloc.py).
		n := max(b.N, 100_000)
		b.ReportMetric(python(b, "RawArray", "heap_alloc.py", 1, strconv.Itoa(n))[0], "ns/op")
	})
}
