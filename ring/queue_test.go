package ring_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func newQueue(t testing.TB, opts *ring.Options) *ring.Queue {
	t.Helper()
	q, err := ring.NewQueue(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Free(); err != nil {
			t.Error(err)
		}
	})
	return q
}

// newPrivateQueue returns a queue in a 1 MiB segment of its own, closed when the test ends:
// what the queue leaks or fills (spilled messages) stays out of the default heap.
func newPrivateQueue(t testing.TB, opts *ring.Options) *ring.Queue {
	t.Helper()
	_, h := privateHeap(t, 1<<20)
	var o ring.Options
	if opts != nil {
		o = *opts
	}
	o.Heap = h
	q, err := ring.NewQueue(&o)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// privateHeap makes a segment of size bytes of the test's own, closed when the test ends.
func privateHeap(t testing.TB, size int) (*shm.Segment, *shm.Heap) {
	t.Helper()
	seg, err := shm.Create(size, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	h, err := seg.Heap()
	if err != nil {
		t.Fatal(err)
	}
	return seg, h
}

func msg(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

func TestPutGetSizes(t *testing.T) {
	q := newQueue(t, &ring.Options{Size: 4096})
	sizes := []int{0, 1, 15, 16, 17, 100, 1000, 1008, 1009, 4000, 4096, 70000, 1 << 20}
	for round := 0; round < 3; round++ {
		for i, n := range sizes {
			if err := q.Put(msg(i, n)); err != nil {
				t.Fatalf("put %d bytes: %v", n, err)
			}
			got, err := q.Get()
			if err != nil {
				t.Fatalf("get %d bytes: %v", n, err)
			}
			if !bytes.Equal(got, msg(i, n)) {
				t.Fatalf("%d bytes: got %d bytes, different", n, len(got))
			}
		}
	}
	if q.Len() != 0 || !q.Empty() {
		t.Fatalf("Len %d Empty %v after draining", q.Len(), q.Empty())
	}
}

func TestFIFOAndWrap(t *testing.T) {
	q := newQueue(t, &ring.Options{Size: 1024})
	next := 0
	for i := 0; i < 5000; i++ {
		for {
			ok, err := q.TryPut(msg(i, i%200))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			got, ok, err := q.TryGet()
			if err != nil || !ok {
				t.Fatalf("full queue gave nothing: %v %v", ok, err)
			}
			if !bytes.Equal(got, msg(next, next%200)) {
				t.Fatalf("message %d out of order", next)
			}
			next++
		}
	}
	for next < 5000 {
		got, err := q.GetTimeout(0)
		if err != nil {
			t.Fatal(next, err)
		}
		if !bytes.Equal(got, msg(next, next%200)) {
			t.Fatalf("message %d out of order", next)
		}
		next++
	}
}

func TestTimeouts(t *testing.T) {
	q := newQueue(t, &ring.Options{Size: 1024, MaxMessages: 2})
	if _, err := q.GetTimeout(20 * time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
		t.Fatalf("GetTimeout on empty: %v", err)
	}
	if _, ok, err := q.TryGet(); ok || err != nil {
		t.Fatalf("TryGet on empty: %v %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		if err := q.PutTimeout([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if !q.Full() || q.Len() != 2 {
		t.Fatalf("Full %v Len %d", q.Full(), q.Len())
	}
	if err := q.PutTimeout([]byte("x"), 20*time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
		t.Fatalf("PutTimeout on full: %v", err)
	}
	if err := q.PutTimeout([]byte("x"), -2); !errors.Is(err, ring.ErrBadTimeout) {
		t.Fatalf("negative timeout: %v", err)
	}
	if _, err := q.GetTimeout(ring.Forever); err != nil {
		t.Fatal(err)
	}
}

func TestMaxMessage(t *testing.T) {
	q := newQueue(t, &ring.Options{MaxMessage: 10})
	if err := q.Put(make([]byte, 11)); !errors.Is(err, ring.ErrTooLarge) {
		t.Fatalf("Put of 11 bytes with max 10: %v", err)
	}
	if err := q.Put(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownWakesWaiters(t *testing.T) {
	q := newQueue(t, &ring.Options{Size: 1024})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := q.Get(); errs <- err }()
	}
	time.Sleep(50 * time.Millisecond)
	if err := q.Put([]byte("last")); err != nil {
		t.Fatal(err)
	}
	q.Shutdown()
	wg.Wait()
	close(errs)
	var got, closed int
	for err := range errs {
		switch {
		case err == nil:
			got++
		case errors.Is(err, ring.ErrShutdown):
			closed++
		default:
			t.Fatal(err)
		}
	}
	if got != 1 || closed != 49 {
		t.Fatalf("%d got a message, %d ErrShutdown", got, closed)
	}
	if err := q.Put(nil); !errors.Is(err, ring.ErrShutdown) {
		t.Fatalf("Put after Shutdown: %v", err)
	}
}

func TestManyGoroutinesBlocked(t *testing.T) {
	q := newQueue(t, nil)
	const n = 10000
	threads := pprof.Lookup("threadcreate").Count()
	var wg sync.WaitGroup
	sums := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := q.Get()
			if err != nil {
				t.Error(err)
				return
			}
			sums <- int(b[0]) | int(b[1])<<8
		}()
	}
	time.Sleep(100 * time.Millisecond)
	// The waiters wait in Go, one of them in the kernel: not a thread each.
	if more := pprof.Lookup("threadcreate").Count() - threads; more > 50 {
		t.Fatalf("%d OS threads created for %d blocked goroutines", more, n)
	}
	want := 0
	for i := 0; i < n; i++ {
		want += i
		if err := q.Put([]byte{byte(i), byte(i >> 8)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(sums)
	got := 0
	for s := range sums {
		got += s
	}
	if got != want {
		t.Fatalf("sum %d, want %d", got, want)
	}
}

func TestWrongKind(t *testing.T) {
	ref, err := shm.Alloc(64, testutil.CellKind)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Free(ref)
	if _, err := ring.OpenQueue(ref); !errors.Is(err, shm.ErrBadRef) {
		t.Fatalf("OpenQueue of another kind: %v", err)
	}
	if _, err := ring.OpenConn(ref); !errors.Is(err, shm.ErrBadRef) {
		t.Fatalf("OpenConn of another kind: %v", err)
	}
	if _, err := ring.OpenJoinableQueue(ref); !errors.Is(err, shm.ErrBadRef) {
		t.Fatalf("OpenJoinableQueue of another kind: %v", err)
	}
	q := newQueue(t, nil)
	if _, err := ring.OpenJoinableQueue(q.Ref()); !errors.Is(err, shm.ErrBadRef) {
		t.Fatalf("OpenJoinableQueue of a plain Queue: %v", err)
	}
}

var _ = fmt.Sprint

func TestPutBatch(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &ring.Options{Size: 1024, SingleProducer: m.opts.SingleProducer, SingleConsumer: m.opts.SingleConsumer})
			var batch [][]byte
			for i := 0; i < 40; i++ {
				batch = append(batch, msg(i, i*7%300)) // some larger than a quarter of the ring
			}
			done := make(chan error, 1)
			go func() {
				n, err := q.PutBatch(batch)
				if err == nil && n != len(batch) {
					err = fmt.Errorf("PutBatch put %d of %d", n, len(batch))
				}
				done <- err
			}()
			for i := range batch {
				got, err := q.GetTimeout(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, batch[i]) {
					t.Fatalf("message %d differs", i)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Get returns a fresh, non-nil slice for every message, the empty one included, in every mode
// (the single consumer's fast path and the general one).
func TestGetEmptyAndCopies(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			for _, b := range [][]byte{nil, {}, []byte("x"), msg(1, 64)} {
				if err := q.Put(b); err != nil {
					t.Fatal(err)
				}
			}
			var got [][]byte
			for i := 0; i < 4; i++ {
				b, err := q.Get()
				if err != nil {
					t.Fatal(err)
				}
				if b == nil {
					t.Fatalf("Get %d returned nil", i)
				}
				got = append(got, b)
			}
			if len(got[0]) != 0 || len(got[1]) != 0 || string(got[2]) != "x" || !bytes.Equal(got[3], msg(1, 64)) {
				t.Fatalf("got %q", got)
			}
			// The copies are the caller's: the ring reusing its memory does not change them.
			for i := 0; i < 200; i++ {
				if err := q.Put(msg(7, 64)); err != nil {
					t.Fatal(err)
				}
				if _, err := q.Get(); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got[3], msg(1, 64)) {
				t.Fatalf("a message returned by Get changed to %q", got[3])
			}
		})
	}
}

// Options.Heap puts every ring object in that heap; without it they go to the default heap.
func TestOptionsHeap(t *testing.T) {
	seg, h := privateHeap(t, 4<<20)
	opts := &ring.Options{Heap: h, Size: 4096}
	q, err := ring.NewQueue(opts)
	if err != nil {
		t.Fatal(err)
	}
	j, err := ring.NewJoinableQueue(opts)
	if err != nil {
		t.Fatal(err)
	}
	qo, err := ring.NewQueueOf[string](opts)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2, err := ring.Pipe(true, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []shm.Ref{q.Ref(), j.Ref(), qo.Ref(), c1.Ref(), c2.Ref()} {
		if r.Seg != seg.ID() {
			t.Errorf("%v is not in the heap Options.Heap names", r)
		}
	}
	if err := c1.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if b, err := c2.Recv(); err != nil || string(b) != "hi" {
		t.Fatalf("Recv = %q, %v", b, err)
	}
	for _, f := range []func() error{q.Free, j.Free, qo.Free, c1.Free} {
		if err := f(); err != nil {
			t.Error(err)
		}
	}
	d, err := ring.NewQueue(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	def, err := shm.Default()
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref().Seg != def.Segment().ID() {
		t.Errorf("NewQueue(nil) is not in the default heap")
	}
}
