package ring_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// cell is shared memory for the tests' own bookkeeping: counters (64-bit words) and, from byte
// 4096, bitmaps.
type cell = testutil.Cell

func newCell(t testing.TB, size int) *cell { return testutil.NewCell(t, size) }

func bit(c *cell, i int) (*uint32, uint32) {
	return shm.Word32(c.Bytes(), 4096+4*(i/32)), 1 << (i % 32)
}

// mark sets bit i and reports whether it was already set.
func mark(c *cell, i int) bool {
	w, m := bit(c, i)
	return atomic.OrUint32(w, m)&m != 0
}

// A test message: producer id, sequence number, payload, CRC of all that.
func encode(dst []byte, id, seq uint64, n int) []byte {
	dst = binary.LittleEndian.AppendUint64(dst[:0], id)
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	for i := 0; i < n; i++ {
		dst = append(dst, byte(seq*7+uint64(i)))
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst))
}

func decode(b []byte) (id, seq uint64, err error) {
	if len(b) < 20 {
		return 0, 0, fmt.Errorf("message of %d bytes", len(b))
	}
	body := b[:len(b)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, 0, fmt.Errorf("torn message: bad checksum (%d bytes)", len(b))
	}
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), nil
}

func sizeFor(seq uint64) int {
	switch {
	case seq%997 == 0:
		return 100000 // spilled to the heap
	case seq%13 == 0:
		return 1000
	}
	return int(seq % 100)
}

// Targets run in child processes.
var (
	_ = proc.Register(produce)
	_ = proc.Register(produceForever)
	_ = proc.Register(consumeMark)
	_ = proc.Register(blockedGet)
	_ = proc.Register(putBig)
)

// produce puts n messages of producer id.
func produce(q *ring.Queue, id, n int) error {
	var buf []byte
	for i := 0; i < n; i++ {
		buf = encode(buf, uint64(id), uint64(i), sizeFor(uint64(i)))
		if err := q.Put(buf); err != nil {
			return err
		}
	}
	return nil
}

// produceForever puts messages of producer id until killed, counting completed Puts in word id
// of c.
func produceForever(q *ring.Queue, c *cell, id int) error {
	var buf []byte
	for i := uint64(0); ; i++ {
		buf = encode(buf, uint64(id), i, sizeFor(i))
		if err := q.Put(buf); err != nil {
			return err
		}
		atomic.StoreUint64(c.W64(id), i+1)
	}
}

// consumeMark takes messages until the queue is shut down, marking sequence numbers in c and
// counting duplicates and torn messages in word 0, messages in word 1.
func consumeMark(q *ring.Queue, c *cell) error {
	for {
		b, err := q.Get()
		if errors.Is(err, ring.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		_, seq, err := decode(b)
		if err != nil || mark(c, int(seq)) {
			atomic.AddUint64(c.W64(0), 1)
		}
		atomic.AddUint64(c.W64(1), 1)
	}
}

// blockedGet waits in Get and exits 0 only if it returns ErrShutdown.
func blockedGet(q *ring.Queue) error {
	_, err := q.Get()
	if !errors.Is(err, ring.ErrShutdown) {
		return fmt.Errorf("Get returned %v, want ErrShutdown", err)
	}
	return nil
}

// putBig puts messages of the given sizes, each byte i of message k being byte(i*k+k).
func putBig(q *ring.Queue, sizes []int) error {
	for k, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*k + k)
		}
		if err := q.Put(b); err != nil {
			return err
		}
	}
	return nil
}

// start starts fn(args...) in a child, killed and reaped if the test ends before it does.
func start(t testing.TB, fn any, args ...any) *proc.Process {
	t.Helper()
	return testutil.Start(t, fn, args...)
}

func joinOK(t testing.TB, p *proc.Process) {
	t.Helper()
	testutil.WaitOK(t, p)
}

var modes = []struct {
	name string
	opts ring.Options
}{
	{"spsc", ring.Options{Size: 8192, SingleProducer: true, SingleConsumer: true}},
	{"mpmc", ring.Options{Size: 8192}},
	{"sp-mc", ring.Options{Size: 8192, SingleProducer: true}},
	{"mp-sc", ring.Options{Size: 8192, SingleConsumer: true}},
}

// Every message from one producer process arrives exactly once and in order, in every mode.
func TestProcessOrder(t *testing.T) {
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			p := start(t, produce, q, 3, n)
			buf := make([]byte, 0, 200000)
			for i := 0; i < n; i++ {
				var err error
				if buf, err = q.GetAppend(buf[:0]); err != nil {
					t.Fatal(err)
				}
				id, seq, err := decode(buf)
				if err != nil {
					t.Fatal(err)
				}
				if id != 3 || seq != uint64(i) || len(buf) != 20+sizeFor(seq) {
					t.Fatalf("message %d: producer %d seq %d, %d bytes", i, id, seq, len(buf))
				}
			}
			joinOK(t, p)
			if !q.Empty() || q.Len() != 0 {
				t.Fatalf("Empty %v Len %d after all", q.Empty(), q.Len())
			}
		})
	}
}

// Sizes from 0 bytes to 64 MiB cross between processes intact.
func TestProcessSizes(t *testing.T) {
	sizes := []int{0, 1, 7, 64, 1000, 2032, 2033, 5000, 1 << 16, 1 << 20, 64 << 20, 3, 64 << 20}
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			p := start(t, putBig, q, sizes)
			for k, n := range sizes {
				b, err := q.Get()
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != n {
					t.Fatalf("message %d: %d bytes, want %d", k, len(b), n)
				}
				for i := range b {
					if b[i] != byte(i*k+k) {
						t.Fatalf("message %d: byte %d is %d", k, i, b[i])
					}
				}
			}
			joinOK(t, p)
		})
	}
}

// 4 producer processes × 250,000 messages, 4 consumer processes: each message exactly once.
func TestProcessMPMC(t *testing.T) {
	const producers, consumers = 4, 4
	per := 250000
	if testing.Short() {
		per = 25000
	}
	q := newQueue(t, &ring.Options{Size: 1 << 16})
	total := producers * per
	var cs []*cell
	var ps []*proc.Process
	for i := 0; i < consumers; i++ {
		c := newCell(t, 4096+total/8+64)
		cs = append(cs, c)
		ps = append(ps, start(t, consumeSum, q, c, per))
	}
	var prods []*proc.Process
	for i := 0; i < producers; i++ {
		prods = append(prods, start(t, produceSmall, q, i, per))
	}
	for _, p := range prods {
		joinOK(t, p)
	}
	q.Shutdown()
	for _, p := range ps {
		joinOK(t, p)
	}
	var count, sum uint64
	seen := make([]byte, total)
	for _, c := range cs {
		if bad := atomic.LoadUint64(c.W64(0)); bad != 0 {
			t.Fatalf("%d bad messages", bad)
		}
		count += atomic.LoadUint64(c.W64(1))
		sum += atomic.LoadUint64(c.W64(2))
		for i := 0; i < total; i++ {
			if w, m := bit(c, i); atomic.LoadUint32(w)&m != 0 {
				seen[i]++
			}
		}
	}
	var wantSum uint64
	for i := 0; i < total; i++ {
		wantSum += uint64(i)
		if seen[i] != 1 {
			t.Fatalf("message %d delivered %d times", i, seen[i])
		}
	}
	if count != uint64(total) || sum != wantSum {
		t.Fatalf("count %d sum %d, want %d and %d", count, sum, total, wantSum)
	}
}

var (
	_ = proc.Register(produceSmall)
	_ = proc.Register(consumeSum)
)

// produceSmall puts n 16-byte messages: the global number id*n+i, and its complement.
func produceSmall(q *ring.Queue, id, n int) error {
	var b [16]byte
	for i := 0; i < n; i++ {
		v := uint64(id*n + i)
		binary.LittleEndian.PutUint64(b[:], v)
		binary.LittleEndian.PutUint64(b[8:], ^v)
		if err := q.Put(b[:]); err != nil {
			return err
		}
	}
	return nil
}

// consumeSum takes messages until the queue is shut down: word 0 counts bad ones, word 1 all, word 2
// sums the numbers; the bitmap marks them.
func consumeSum(q *ring.Queue, c *cell, per int) error {
	buf := make([]byte, 0, 16)
	for {
		var err error
		buf, err = q.GetAppend(buf[:0])
		if errors.Is(err, ring.ErrShutdown) {
			return nil
		}
		if err != nil {
			return err
		}
		v := binary.LittleEndian.Uint64(buf)
		if len(buf) != 16 || binary.LittleEndian.Uint64(buf[8:]) != ^v || v >= uint64(4*per) || mark(c, int(v)) {
			atomic.AddUint64(c.W64(0), 1)
			continue
		}
		atomic.AddUint64(c.W64(1), 1)
		atomic.AddUint64(c.W64(2), v)
	}
}

// Shutdown wakes a Get blocked in another process.
func TestProcessShutdownWakes(t *testing.T) {
	q := newQueue(t, nil)
	var ps []*proc.Process
	for i := 0; i < 3; i++ {
		ps = append(ps, start(t, blockedGet, q))
	}
	time.Sleep(100 * time.Millisecond)
	q.Shutdown()
	for _, p := range ps {
		joinOK(t, p)
	}
}

// Producers SIGKILLed at random points in Put, 200 times: the consumers never hang, never see a
// torn message, and get every message whose Put returned exactly once.
func TestProducerKilled(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	t.Run("mpmc", func(t *testing.T) { producerKilled(t, ring.Options{Size: 1 << 14}, 2, kills) })
	// One producer process at a time, restarted after each kill: the lock-free path.
	t.Run("single-producer", func(t *testing.T) {
		producerKilled(t, ring.Options{Size: 1 << 14, SingleProducer: true}, 1, kills/2)
	})
	// The same with the single consumer's fast path, which finds records by their headers alone.
	t.Run("spsc", func(t *testing.T) {
		producerKilled(t, ring.Options{Size: 1 << 14, SingleProducer: true, SingleConsumer: true}, 1, kills/2)
	})
}

func producerKilled(t *testing.T, opts ring.Options, slots, kills int) {
	ab0, _ := ring.Recoveries()
	q := newQueue(t, &opts)
	c := newCell(t, 8*(kills+slots+8))
	type rec struct{ id, seq uint64 }
	var mu sync.Mutex
	got := map[rec]int{}
	var bad atomic.Int64
	var wg sync.WaitGroup
	consumers := 2
	if opts.SingleConsumer {
		consumers = 1
	}
	for i := 0; i < consumers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				b, err := q.GetAppend(buf[:0])
				buf = b
				if errors.Is(err, ring.ErrShutdown) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				id, seq, err := decode(b)
				if err != nil {
					t.Error(err)
					bad.Add(1)
					continue
				}
				mu.Lock()
				got[rec{id, seq}]++
				mu.Unlock()
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	id := 1
	running := make([]*proc.Process, slots)
	ids := make([]int, slots)
	for k := 0; k < kills+slots; k++ {
		s := k % slots
		if p := running[s]; p != nil {
			// Let it get going, then kill it at a random point: nearly all its time is in Put.
			testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint64(c.W64(ids[s])) > 0 || !p.IsAlive() })
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			killed(t, p)
		}
		if k >= kills {
			running[s] = nil
			continue
		}
		ids[s] = id
		running[s] = start(t, produceForever, q, c, id)
		id++
	}
	q.Shutdown()
	wg.Wait()
	inflight := 0
	for i := 1; i < id; i++ {
		done := atomic.LoadUint64(c.W64(i))
		if done == 0 {
			t.Fatalf("producer %d never completed a Put", i)
		}
		inflight += got[rec{uint64(i), done}]
		for seq := uint64(0); seq < done; seq++ {
			if n := got[rec{uint64(i), seq}]; n != 1 {
				t.Fatalf("producer %d message %d (Put returned) delivered %d times", i, seq, n)
			}
		}
		if n := got[rec{uint64(i), done}]; n > 1 {
			t.Fatalf("producer %d message %d (in flight) delivered %d times", i, done, n)
		}
		if n := got[rec{uint64(i), done + 1}]; n != 0 {
			t.Fatalf("producer %d message %d was never put, delivered %d times", i, done+1, n)
		}
	}
	if bad.Load() != 0 {
		t.Fatalf("%d torn messages", bad.Load())
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len %d after the survivors drained the queue", n)
	}
	ab, _ := ring.Recoveries()
	t.Logf("%d producers killed, %d messages delivered; %d of the Puts cut short were delivered anyway, %d records of dead producers skipped",
		id-1, len(got), inflight, ab-ab0)
}

// A consumer SIGKILLed in Get does not block the others, and the message it was taking is
// delivered to another consumer.
func TestConsumerKilled(t *testing.T) {
	kills := 30
	if testing.Short() {
		kills = 5
	}
	n := 300000
	q := newQueue(t, &ring.Options{Size: 1 << 14})
	c := newCell(t, 4096+n/8+64)
	done := make(chan error, 1)
	go func() {
		var buf []byte
		for i := 0; i < n; i++ {
			buf = encode(buf, 1, uint64(i), i%40)
			if err := q.Put(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := consumeMark(q, c); err != nil {
			t.Error(err)
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < kills; k++ {
		p := start(t, consumeMark, q, c)
		time.Sleep(time.Duration(5000+rng.IntN(20000)) * time.Microsecond)
		killed(t, p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	q.Shutdown()
	wg.Wait()
	if dup := atomic.LoadUint64(c.W64(0)); dup != 0 {
		t.Fatalf("%d messages duplicated or torn", dup)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len %d after the survivors drained the queue", n)
	}
	missing := 0
	for i := 0; i < n; i++ {
		if w, m := bit(c, i); atomic.LoadUint32(w)&m == 0 {
			missing++
		}
	}
	// A killed consumer may die after its Get returned and before it marked the message.
	if missing > kills {
		t.Fatalf("%d messages missing after %d kills", missing, kills)
	}
	_, reaped := ring.Recoveries()
	t.Logf("%d consumers killed; %d messages unmarked; %d messages of dead consumers taken over", kills, missing, reaped)
}

var (
	_ = proc.Register(reserveAndHang)
	_ = proc.Register(peekAndHang)
)

// reserveAndHang reserves room for a message, writes half of it, says so in word 0 of c, and
// waits to be killed.
func reserveAndHang(q *ring.Queue, c *cell, n int) error {
	w, err := q.Reserve(n)
	if err != nil {
		return err
	}
	b := w.Bytes()
	for i := range b[:n/2] {
		b[i] = 0xEE
	}
	atomic.StoreUint64(c.W64(0), 1)
	hang()
	return nil
}

// peekAndHang takes a message without releasing it, says so, and waits to be killed.
func peekAndHang(q *ring.Queue, c *cell) error {
	if _, err := q.Peek(); err != nil {
		return err
	}
	atomic.StoreUint64(c.W64(0), 1)
	hang()
	return nil
}

// A producer killed between Reserve and Commit (the worst place): the consumers skip its record
// after a liveness check and get the messages behind it; nothing of it is ever delivered.
//
// With closed, the queue is shut down after the kill: consumers must still find the producer dead
// (such a queue used to make them spin forever at its record: Shutdown made every wait return at
// once, so the liveness check after a quiet tick never came).
func TestProducerKilledReserved(t *testing.T) {
	for _, m := range modes {
		for _, v := range []struct {
			n      int
			closed bool
		}{{100, false}, {5000, false}, {100, true}} { // in the ring, spilled; then closed
			n := v.n
			t.Run(fmt.Sprintf("%s/%d/closed=%v", m.name, n, v.closed), func(t *testing.T) {
				q := newQueue(t, &m.opts)
				c := newCell(t, 64)
				if err := q.Put([]byte("before")); err != nil {
					t.Fatal(err)
				}
				p := start(t, reserveAndHang, q, c, n)
				if !testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint64(c.W64(0)) == 1 }) {
					t.Fatal("child never reserved")
				}
				if !m.opts.SingleProducer {
					// Behind the hung record: another producer's message.
					if err := q.Put([]byte("after")); err != nil {
						t.Fatal(err)
					}
				}
				killed(t, p)
				if m.opts.SingleProducer {
					if err := q.Put([]byte("after")); err != nil { // the next single producer
						t.Fatal(err)
					}
				}
				if v.closed {
					q.Shutdown()
				}
				for _, want := range []string{"before", "after"} {
					got, err := q.GetTimeout(10 * time.Second)
					if err != nil || string(got) != want {
						t.Fatalf("got %q %v, want %q", got, err, want)
					}
				}
				end, wait := ring.ErrTimeout, 200*time.Millisecond
				if v.closed {
					end, wait = ring.ErrShutdown, 2*time.Second // returns as soon as it knows
				}
				if got, err := q.GetTimeout(wait); !errors.Is(err, end) {
					t.Fatalf("after the messages: %d bytes, %v; want %v", len(got), err, end)
				}
			})
		}
	}
}

// A consumer killed holding a message (Peek without Release): another consumer gets that message,
// and the ones behind it.
func TestConsumerKilledHolding(t *testing.T) {
	for _, m := range modes {
		if m.opts.SingleConsumer {
			continue // one consumer: nobody else to take over
		}
		t.Run(m.name, func(t *testing.T) {
			q := newQueue(t, &m.opts)
			c := newCell(t, 64)
			for _, s := range []string{"first", "second"} {
				if err := q.Put([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			p := start(t, peekAndHang, q, c)
			if !testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint64(c.W64(0)) == 1 }) {
				t.Fatal("child never took a message")
			}
			if got, err := q.GetTimeout(10 * time.Second); err != nil || string(got) != "second" {
				t.Fatalf("got %q %v, want second", got, err)
			}
			killed(t, p)
			if got, err := q.GetTimeout(10 * time.Second); err != nil || string(got) != "first" {
				t.Fatalf("got %q %v, want the dead consumer's message", got, err)
			}
		})
	}
}
