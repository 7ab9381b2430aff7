package bench_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
)

// Peers of the two-process ring benchmarks, run in a child started from this test binary.
var (
	_ = proc.Register(ringDrain)
	_ = proc.Register(ringEcho)
	_ = proc.Register(sockDrain)
)

// ringDrain says it is ready, then takes n messages from q.
func ringDrain(ready, q *ring.Queue, n int) error {
	if err := ready.Put(nil); err != nil {
		return err
	}
	buf := make([]byte, 0, 64)
	for i := 0; i < n; i++ {
		var err error
		if buf, err = q.GetAppend(buf[:0]); err != nil {
			return err
		}
	}
	return nil
}

// ringEcho sends back each of n messages it receives.
func ringEcho(in, out *ring.Queue, n int) error {
	if err := out.Put(nil); err != nil {
		return err
	}
	buf := make([]byte, 0, 64)
	for i := 0; i < n; i++ {
		var err error
		if buf, err = in.GetAppend(buf[:0]); err != nil {
			return err
		}
		if err := out.Put(buf); err != nil {
			return err
		}
	}
	return nil
}

// The unix-socket baseline uses x/sys/unix directly, not package net: net links libc through cgo
// when a C compiler is present, and a dynamically linked test binary starts ~2 ms slower, which
// would skew BenchmarkProcessStart (which re-executes this binary) against os/exec's /bin/true.

// unixSocket returns a stream socket bound and listening at path (listen) or connected to it.
func unixSocket(path string, listen bool) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrUnix{Name: path}
	if listen {
		err = unix.Bind(fd, sa)
		if err == nil {
			err = unix.Listen(fd, 1)
		}
	} else {
		err = unix.Connect(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// sockDrain connects to the unix socket at path and reads n bytes.
func sockDrain(path string, n int) error {
	c, err := unixSocket(path, false)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.CopyN(io.Discard, c, int64(n))
	return err
}

var ready *ring.Queue

// readyQueue returns the queue on which a peer says it has started.
func readyQueue(b *testing.B) *ring.Queue {
	if ready == nil {
		var err error
		if ready, err = ring.NewQueue(&ring.Options{Size: 1024}); err != nil {
			b.Fatal(err)
		}
	}
	return ready
}

// awaitReady waits for the peer to say it has started, so that the timed loop does not include
// the start of a process.
func awaitReady(b *testing.B) {
	if _, err := ready.Get(); err != nil {
		b.Fatal(err)
	}
}

// drainPeer returns an SPSC queue of size bytes (the caller frees it) and a started peer that
// takes b.N messages from it.
func drainPeer(b *testing.B, size int) (*ring.Queue, *proc.Process) {
	return drainPeerOpts(b, &ring.Options{Size: size, SingleProducer: true, SingleConsumer: true})
}

// drainPeerOpts is drainPeer for a queue made with opts (nil: the defaults a user gets).
func drainPeerOpts(b *testing.B, opts *ring.Options) (*ring.Queue, *proc.Process) {
	q, err := ring.NewQueue(opts)
	if err != nil {
		b.Fatal(err)
	}
	p, err := proc.Start(ringDrain, readyQueue(b), q, b.N)
	if err != nil {
		q.Free()
		b.Fatal(err)
	}
	awaitReady(b)
	return q, p
}

// BenchmarkQueueThroughput: 64-byte messages from one process to another; one op is one message.
func BenchmarkQueueThroughput(b *testing.B) {
	msg := bytes.Repeat([]byte{7}, 64)
	// The ring is larger than the last-level cache (32 MiB here): a line the producer comes back
	// to a lap later has then left every cache, and comes from memory, which the hardware
	// prefetchers stream, instead of from the other core's cache, at a price that depends on
	// where the host runs the two vCPUs (docs/ring.md). shmkit-1MiB is the same with a ring the
	// size of one core's L2.
	const size = 64 << 20
	var putOpts func(b *testing.B, opts *ring.Options)
	put := func(b *testing.B, size int) {
		putOpts(b, &ring.Options{Size: size, SingleProducer: true, SingleConsumer: true})
	}
	putOpts = func(b *testing.B, opts *ring.Options) {
		q, p := drainPeerOpts(b, opts)
		defer q.Free()
		b.SetBytes(64)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := q.Put(msg); err != nil {
				b.Fatal(err)
			}
		}
		joinPeer(b, p)
	}
	b.Run("shmkit", func(b *testing.B) { put(b, size) })
	b.Run("shmkit-1MiB", func(b *testing.B) { put(b, 1<<20) })
	// shmkit-default is the queue as a user gets it from NewQueue(nil): multi-producer,
	// multi-consumer, 256 KiB; the headline figure above is for the tuned SPSC 64 MiB ring.
	b.Run("shmkit-default", func(b *testing.B) { putOpts(b, nil) })
	b.Run("shmkit-batch16", func(b *testing.B) {
		// The same, put 16 at a time with PutBatch (one publication per batch); one op is
		// still one message, taken by the peer one Get at a time.
		q, p := drainPeer(b, size)
		defer q.Free()
		batch := make([][]byte, 16)
		for i := range batch {
			batch[i] = msg
		}
		b.SetBytes(64)
		b.ResetTimer()
		for i := 0; i < b.N; i += len(batch) {
			if _, err := q.PutBatch(batch[:min(len(batch), b.N-i)]); err != nil {
				b.Fatal(err)
			}
		}
		joinPeer(b, p)
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan [64]byte, 1<<14)
		done := make(chan struct{})
		go func() {
			for i := 0; i < b.N; i++ {
				<-ch
			}
			close(done)
		}()
		var m [64]byte
		b.SetBytes(64)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ch <- m
		}
		<-done
	})
	b.Run("unixsock", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "s")
		l, err := unixSocket(path, true)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		p, err := proc.Start(sockDrain, path, 64*b.N)
		if err != nil {
			b.Fatal(err)
		}
		nfd, _, err := unix.Accept4(int(l.Fd()), unix.SOCK_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		c := os.NewFile(uintptr(nfd), path)
		defer c.Close()
		b.SetBytes(64)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		joinPeer(b, p)
	})
	b.Run("python", func(b *testing.B) {
		// CPython's multiprocessing.Queue, b.N messages (at least 20,000): ns/op includes the
		// start of Python and its child, spread over the messages; ns/msg is the script's own
		// timing of the messages alone.
		ns := python(b, "multiprocessing.Queue", "ring_queue.py", 1, strconv.Itoa(b.N))[0]
		b.ReportMetric(ns, "ns/msg")
	})
}

// BenchmarkQueuePingPong: a round trip of a small message between two processes: shmkit, through
// two SPSC queues; pipe, one byte each way over two os.Pipe pipes; python, two
// multiprocessing.Queue.
func BenchmarkQueuePingPong(b *testing.B) {
	b.Run("shmkit", func(b *testing.B) {
		opts := &ring.Options{Size: 4096, SingleProducer: true, SingleConsumer: true}
		ping, err := ring.NewQueue(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer ping.Free()
		pong, err := ring.NewQueue(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer pong.Free()
		p, err := proc.Start(ringEcho, ping, pong, b.N)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pong.Get(); err != nil {
			b.Fatal(err)
		}
		msg := []byte("ping")
		buf := make([]byte, 0, 16)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := ping.Put(msg); err != nil {
				b.Fatal(err)
			}
			if buf, err = pong.GetAppend(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		joinPeer(b, p)
	})
	b.Run("pipe", benchPipePingPong)
	b.Run("python", func(b *testing.B) {
		n := max(b.N, 2000) // the script's start-up is excluded from what it measures
		b.ReportMetric(python(b, "multiprocessing.Queue", "pingpong.py", 1, "queue", strconv.Itoa(n))[0], "ns/op")
	})
}

// BenchmarkQueueWakeup: a producer that works between messages (~45 µs of computation, longer
// than a consumer spins before it sleeps) puts each to a consumer process that sleeps waiting for
// it. One op is one message and the work; /work is the work alone, in the same run: the difference
// is what a message to a sleeping consumer costs the producer (its Put, the wake-up system call,
// and whatever the consumer's way of going to sleep costs the producer's CPU).
func BenchmarkQueueWakeup(b *testing.B) {
	const work = 40_000
	b.Run("work", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			busyWork(work)
		}
	})
	b.Run("shmkit", func(b *testing.B) {
		q, p := drainPeer(b, 1<<16)
		defer q.Free()
		msg := []byte("wake")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			busyWork(work)
			if err := q.Put(msg); err != nil {
				b.Fatal(err)
			}
		}
		joinPeer(b, p)
	})
}

// busySink keeps busyWork's loop from being optimised away.
var busySink uint64

// busyWork computes for n iterations of a loop that touches no memory (~1.1 ns each here).
func busyWork(n int) {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	busySink = x
}

const largeSize = 64 << 20

// BenchmarkQueueLarge: 64 MiB messages from one process to another, in bytes/s. The
// sub-benchmarks differ only in how the consumer takes each message, to tell what the consumer's
// side costs: /shmkit copies it into one buffer it reuses (GetAppend), /shmkit-get into a fresh
// 64 MiB slice each time (Get: the allocation, and the page faults of memory never touched
// before), /shmkit-peek not at all (Peek, check the length, Release: what is left is the
// producer's copy into the spill block and the hand-over). /memcpy is one copy of 64 MiB
// between two buffers of this process, reused; /memcpy-fresh the same into a new slice each
// time; /python, CPython's multiprocessing.Queue.
func BenchmarkQueueLarge(b *testing.B) {
	src := bytes.Repeat([]byte{1}, largeSize)
	for _, c := range []struct{ name, mode string }{
		{"shmkit", largeGetAppend}, {"shmkit-get", largeGet}, {"shmkit-peek", largePeek},
	} {
		b.Run(c.name, func(b *testing.B) {
			// MaxMessages bounds how far the producer runs ahead: spilled messages are bounded by
			// it and by the heap, not by the ring's Size.
			q, err := ring.NewQueue(&ring.Options{SingleProducer: true, SingleConsumer: true, MaxMessages: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Free()
			p, err := proc.Start(ringDrainLarge, readyQueue(b), q, largeWarmup+b.N, c.mode)
			if err != nil {
				b.Fatal(err)
			}
			awaitReady(b)
			// Untimed warm-up messages: the first ones fault in memory new to both processes
			// (the spill blocks, the consumer's buffer), 0.1–1 s per 64 MiB on this VM at times,
			// and the framework's first try, b.N = 1, then stuck at one or two messages per run
			// and reported that instead of the stream's cost (runs of 0.4–1.7 s per message
			// beside runs of 6–30 ms in the same session).
			for range largeWarmup {
				if err := q.Put(src); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(largeSize)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := q.Put(src); err != nil {
					b.Fatal(err)
				}
			}
			joinPeer(b, p)
		})
	}
	b.Run("memcpy", func(b *testing.B) {
		dst := make([]byte, largeSize)
		copy(dst, src) // faulted in, as the queue's warm-up does for its memory
		b.SetBytes(largeSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			copy(dst, src)
		}
	})
	b.Run("memcpy-fresh", func(b *testing.B) {
		// The same copy into a new 64 MiB slice each time, as /shmkit-get's consumer does: what
		// a fresh destination costs in one process (Go's allocation, its garbage collection,
		// and the page faults of memory the process has not touched).
		b.SetBytes(largeSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			dst := make([]byte, largeSize)
			copy(dst, src)
			largeSink = dst
		}
	})
	b.Run("python", func(b *testing.B) {
		// 64 MiB bytes through a multiprocessing.Queue(maxsize=2) to a child: ns/op is the
		// script's own time per message.
		b.ReportMetric(python(b, "multiprocessing.Queue", "queue_large.py", 1, strconv.Itoa(b.N))[0], "ns/op")
	})
}

// largeWarmup is how many messages BenchmarkQueueLarge's producer puts before the timer starts:
// one per spare spill block the queue keeps for reuse.
const largeWarmup = 2

// largeSink keeps memcpy-fresh's destination from being optimised away.
var largeSink []byte

// How ringDrainLarge takes each message.
const (
	largeGetAppend = "getappend" // into one reused buffer
	largeGet       = "get"       // into a fresh slice each time
	largePeek      = "peek"      // in place, without a copy
)

var _ = proc.Register(ringDrainLarge)

// ringDrainLarge takes n messages from q the way mode says, checking each one's length.
func ringDrainLarge(ready, q *ring.Queue, n int, mode string) error {
	// Fault the reused buffer in before saying ready: a child process's first touch of 64 MiB
	// costs 0.2–0.7 s on this VM, once per process, and the framework starts a new child for
	// every b.N it tries; charged to a run of one or two messages it swamped the figure.
	buf := make([]byte, largeSize)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	buf = buf[:0]
	if err := ready.Put(nil); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		var err error
		switch mode {
		case largeGetAppend:
			buf, err = q.GetAppend(buf[:0])
		case largeGet:
			buf, err = q.Get()
		case largePeek:
			var m *ring.Message
			if m, err = q.Peek(); err == nil {
				buf = m.Bytes()
				if len(buf) == largeSize {
					err = m.Release()
				} else {
					m.Release()
				}
			}
		default:
			return fmt.Errorf("ringDrainLarge: mode %q", mode)
		}
		if err != nil {
			return err
		}
		if len(buf) != largeSize {
			return fmt.Errorf("got %d bytes", len(buf))
		}
	}
	return nil
}
