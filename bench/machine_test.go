package bench_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The two benchmarks in this file measure the machine, not shmkit: what moving cache lines
// between two CPUs costs right now. Cross-core figures on this VM swing by 4× with where the host
// runs the two vCPUs, so read a ring or lock benchmark beside these, from the same run.

// sharedPage maps n bytes of shared anonymous memory (like a ring's, but without a segment).
func sharedPage(b *testing.B, n int) []byte {
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Munmap(m) })
	return m
}

// BenchmarkCacheLinePingPong: two threads bounce a counter through two cache lines, each spinning
// until it sees the other's last store. One op is a round trip: two line transfers one after the
// other, the latency floor of any cross-core handshake.
func BenchmarkCacheLinePingPong(b *testing.B) {
	m := sharedPage(b, 4096)
	ping := (*uint64)(unsafe.Pointer(&m[0]))
	pong := (*uint64)(unsafe.Pointer(&m[128]))
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := uint64(1); i <= uint64(b.N); i++ {
			for atomic.LoadUint64(ping) != i {
			}
			atomic.StoreUint64(pong, i)
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := uint64(1); i <= uint64(b.N); i++ {
		atomic.StoreUint64(ping, i)
		for atomic.LoadUint64(pong) != i {
		}
	}
	<-done
}

// BenchmarkCacheLineStream: one thread writes 64-byte lines into a 1 MiB ring and publishes its
// count every 16 lines; another reads them behind it and hands space back every 16 lines. One op
// is one line: the throughput floor of moving data between the two cores when both sides batch,
// which a queue moving one 64-byte message per Put (1¼ lines with its header) cannot beat.
func BenchmarkCacheLineStream(b *testing.B) {
	const size = 1 << 20
	m := sharedPage(b, 4096+size)
	tail := (*uint64)(unsafe.Pointer(&m[0]))
	head := (*uint64)(unsafe.Pointer(&m[256]))
	data := m[4096:]
	n := uint64(b.N)
	var sum atomic.Uint64
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var s, h, t uint64
		for h < n {
			if h == t {
				if t = atomic.LoadUint64(tail); h == t {
					continue
				}
			}
			line := (*[8]uint64)(unsafe.Pointer(&data[(h*64)&(size-1)]))
			s += line[0] + line[7]
			if h++; h%16 == 0 || h == n {
				atomic.StoreUint64(head, h)
			}
		}
		sum.Store(s)
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.SetBytes(64)
	b.ResetTimer()
	freed := uint64(0)
	for i := uint64(0); i < n; i++ {
		for i-freed >= size/64-16 {
			freed = atomic.LoadUint64(head)
		}
		line := (*[8]uint64)(unsafe.Pointer(&data[(i*64)&(size-1)]))
		for k := range line {
			line[k] = i
		}
		if i%16 == 15 || i == n-1 {
			atomic.StoreUint64(tail, i+1)
		}
	}
	<-done
	if want := n * (n - 1); sum.Load() != want {
		b.Fatalf("reader summed %d, want %d: it read lines before they were written", sum.Load(), want)
	}
}
