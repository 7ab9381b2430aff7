package ring_test

import (
	"testing"

	"github.com/shmkit/shmkit/ring"
)

// Two goroutines of one process through an SPSC queue: the ring's own cost, without a second
// process (bench/ring_test.go has the cross-process numbers and their baselines).
func BenchmarkSPSCInProcess(b *testing.B) {
	benchInProcess(b, ring.Options{Size: 1 << 20, SingleProducer: true, SingleConsumer: true})
}

// Two goroutines of one process through a queue with several producers and consumers.
func BenchmarkMPMCInProcess(b *testing.B) { benchInProcess(b, ring.Options{Size: 1 << 20}) }

func benchInProcess(b *testing.B, opts ring.Options) {
	q, err := ring.NewQueue(&opts)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Free()
	msg := make([]byte, 64)
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 0, 64)
		for i := 0; i < b.N; i++ {
			buf, _ = q.GetAppend(buf[:0])
		}
		close(done)
	}()
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Put(msg)
	}
	<-done
}

// One goroutine puts and gets: the fixed cost of the calls, no cache line moves between cores.
func BenchmarkPutGetOneGoroutine(b *testing.B) {
	benchPutGet(b, ring.Options{Size: 1 << 20, SingleProducer: true, SingleConsumer: true})
}

// The same on a queue with several producers and consumers (the default): the fixed cost of the
// locked, counted path.
func BenchmarkPutGetOneGoroutineMPMC(b *testing.B) { benchPutGet(b, ring.Options{Size: 1 << 20}) }

func benchPutGet(b *testing.B, opts ring.Options) {
	q, err := ring.NewQueue(&opts)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Free()
	msg := make([]byte, 64)
	buf := make([]byte, 0, 64)
	b.SetBytes(64)
	for i := 0; i < b.N; i++ {
		q.Put(msg)
		buf, _ = q.GetAppend(buf[:0])
	}
}
