package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/shm"
)

// Options configure a new queue. The zero Options (or nil) give a multi-producer, multi-consumer
// queue with a 256 KiB ring and no limit on message count or size.
type Options struct {
	// Size is the capacity of the ring in bytes, rounded up to a power of two (at least 1 KiB, at
	// most 1 GiB; 0: 256 KiB). Each message takes 16 bytes of header plus its length rounded up
	// to 16. Messages longer than a quarter of Size are spilled to the heap: the ring then holds
	// a 32-byte reference to them. For a fast stream of small messages between two processes,
	// make the ring larger than the processor's last-level cache (tens of MiB): the lines the
	// producer comes back to have then left the consumer's caches, and a ring of a few MiB
	// already avoids the worst of it (docs/ring.md, "Ring size").
	Size int
	// MaxMessages bounds how many messages the queue holds (0: only Size bounds it). A message
	// counts from its Reserve (or Put); with several producers, an aborted reservation counts
	// until a consumer passes it (the next Get), as it holds its place in the ring until then.
	MaxMessages int
	// MaxMessage is the largest message Put accepts (0: up to what the heap can allocate); a
	// larger one fails with ErrTooLarge.
	MaxMessage int
	// SingleProducer promises that one goroutine at a time, of one process at a time, puts
	// (Put, TryPut, Reserve to Commit): producers then take no lock, and a message is written
	// and published with a single release store. Breaking the promise corrupts the ring (which
	// consumers then report as ErrCorrupt, or deliver mixed-up messages).
	SingleProducer bool
	// SingleConsumer promises the same of consumers (Get, Peek to Release).
	SingleConsumer bool
	// Heap is the heap the queue is made in (nil: the process's default heap, which children
	// inherit). This is how every shmkit constructor picks a heap: lock and value take In(h).
	Heap *shm.Heap
}

// heapOf returns the heap opts name, or the default heap.
func heapOf(opts *Options) (*shm.Heap, error) {
	if opts != nil && opts.Heap != nil {
		return opts.Heap, nil
	}
	return shm.Default()
}

const defaultSize = 256 << 10

var queueKind, spillKind shm.Kind

func init() {
	queueKind = shm.RegisterKind("ring.Queue", func(r shm.Ref) (any, error) { return OpenQueue(r) })
	spillKind = shm.RegisterKind("ring.spill", func(r shm.Ref) (any, error) {
		return nil, fmt.Errorf("%w: a ring.spill block is internal to a queue", shm.ErrBadRef)
	})
}

// A Queue is a FIFO of byte messages in shared memory, usable from any number of goroutines in
// any number of processes (unless created SingleProducer or SingleConsumer). It is a ring of
// length-prefixed records; see docs/ring.md for the layout and the crash-safety protocol.
//
// Ordering: a message's bytes are written before the message is published (by a release store
// of its header's position word, which consumers load atomically), so a Get that returns a
// message happens after the Put that sent it. Messages
// of one producer arrive in the order put; with several consumers, each message goes to exactly
// one of them.
//
// Peer death: a producer killed inside Put never leaves a partial message visible and never
// blocks consumers for more than a liveness check (~50 ms); a consumer killed inside Get never
// blocks the others, and the message it was taking is delivered to another consumer (see
// docs/ring.md). A Queue handle is a small local value over the shared ring; OpenQueue makes
// another one.
type Queue struct {
	ref       shm.Ref
	seg       *shm.Segment
	heap      *shm.Heap
	b         []byte // the queue's heap block
	data      []byte // the data area, capacity bytes
	capacity  uint64
	mask      uint64
	flags     uint32
	maxMsg    int
	maxMsgs   uint64
	inlineMax int

	pm, cm                       robust.Mutex // the producer and consumer locks
	closed, unfin                *uint32
	owner                        *uint32
	tail, nput, read, head, nget *uint64
	spare                        [spares]*uint64
	counted                      bool   // nput and nget are kept (not for SPSC without MaxMessages)
	fastPut, fastGet             bool   // the single producer's and consumer's short paths apply
	hclosed                      uint32 // this handle's Close, atomic: 1 once closed
	hctx                         context.Context
	hcancel                      context.CancelFunc // ends hctx: Close wakes the turn waiters
	*local
}

// local is what the handles of one queue in one process share: the mutexes in front of the
// shared locks (so a process's goroutines take turns before they contend with other processes),
// the Gates on the queue's futex words, and cached indices.
//
// The producers' and the consumers' fields sit on cache lines of their own, so that a producer
// and a consumer goroutine of one process do not slow each other down by false sharing.
type local struct {
	put, get, join wakeup // put: committed records; get: freed space; join: tasks done
	_              [64]byte
	pmu            sync.Mutex
	plocal         robust.Local // the producer lock's
	cachedHead     uint64       // under pmu (or the single producer's): a head seen; head only grows
	ptail          uint64       // the single producer's position, valid while psynced and owner is self
	psynced        bool
	_              [64]byte
	cmu            sync.Mutex
	clocal         robust.Local // the consumer lock's
	cachedTail     uint64       // under cmu (or the single consumer's)
	streak         int          // the single consumer's: messages taken since it last found none
	slip           int          // the single consumer's: how long it stays away after catching up
	_              [64]byte
	getTurn        park.Turn
	putTurn        park.Turn
}

// locals maps a queue (segment id, offset, generation) to its local state in this process.
var locals robust.Registry[localKey, local]

type localKey struct {
	seg, off uint64
	gen      uint32
}

// NewQueue creates a queue in the default heap, or in opts.Heap; opts may be nil.
func NewQueue(opts *Options) (*Queue, error) {
	return newQueue(opts, queueKind, 0)
}

func newQueue(opts *Options, kind shm.Kind, flags uint32) (*Queue, error) {
	h, err := heapOf(opts)
	if err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Size < 0 || o.Size > maxCap || o.MaxMessages < 0 || o.MaxMessage < 0 || o.MaxMessage > shm.MaxAlloc || o.MaxMessage > 1<<32-1 || o.MaxMessages > 1<<32-1 {
		return nil, fmt.Errorf("%w: %+v", ErrBadArgs, o)
	}
	size := uint64(o.Size)
	if size == 0 {
		size = defaultSize
	}
	size = max(size, minCap)
	if size&(size-1) != 0 {
		size = 1 << bits.Len64(size)
	}
	if o.SingleProducer {
		flags |= flagSingleProducer
	}
	if o.SingleConsumer {
		flags |= flagSingleConsumer
	}
	ref, err := h.Alloc(headerSize+int(size), kind)
	if err != nil {
		return nil, err
	}
	_, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(shm.Word64(b, offCap), size)
	atomic.StoreUint32(shm.Word32(b, offFlags), flags)
	atomic.StoreUint32(shm.Word32(b, offMaxMsg), uint32(o.MaxMessage))
	atomic.StoreUint32(shm.Word32(b, offMaxMsgs), uint32(o.MaxMessages))
	atomic.StoreUint64(shm.Word64(b, headerSize), noRecord) // tail (0) holds no record yet
	atomic.StoreUint32(shm.Word32(b, offVersion), version)
	atomic.StoreUint32(shm.Word32(b, offMagic), magic) // publishes the fields above
	return openQueue(ref, kind)
}

// OpenQueue returns a handle on the queue that ref names (as a child process does with a queue
// passed to it). A ref of another kind, or a header that does not validate, is an error.
func OpenQueue(ref shm.Ref) (*Queue, error) { return openQueue(ref, queueKind) }

func openQueue(ref shm.Ref, kind shm.Kind) (*Queue, error) {
	seg, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return nil, err
	}
	if len(b) < headerSize+minCap {
		return nil, corrupt("queue block of %d bytes", len(b))
	}
	if m, v := atomic.LoadUint32(shm.Word32(b, offMagic)), atomic.LoadUint32(shm.Word32(b, offVersion)); m != magic || v != version {
		return nil, corrupt("queue header magic %#x version %d", m, v)
	}
	c := atomic.LoadUint64(shm.Word64(b, offCap))
	if c < minCap || c > maxCap || c&(c-1) != 0 || uint64(len(b)) < headerSize+c {
		return nil, corrupt("capacity %d in a %d-byte block", c, len(b))
	}
	heap, err := seg.Heap()
	if err != nil {
		return nil, err
	}
	q := &Queue{
		ref: ref, seg: seg, heap: heap, b: b,
		data:     b[headerSize : headerSize+c : headerSize+c],
		capacity: c, mask: c - 1,
		flags:   atomic.LoadUint32(shm.Word32(b, offFlags)),
		maxMsg:  int(atomic.LoadUint32(shm.Word32(b, offMaxMsg))),
		maxMsgs: uint64(atomic.LoadUint32(shm.Word32(b, offMaxMsgs))),
		closed:  shm.Word32(b, offClosed), unfin: shm.Word32(b, offUnfin),
		owner: shm.Word32(b, offOwner),
		tail:  shm.Word64(b, offTail), nput: shm.Word64(b, offNPut),
		read: shm.Word64(b, offRead), head: shm.Word64(b, offHead), nget: shm.Word64(b, offNGot),
		spare: [spares]*uint64{shm.Word64(b, offSpare), shm.Word64(b, offSpare+8)},
	}
	q.hctx, q.hcancel = context.WithCancel(context.Background())
	q.inlineMax = int(c/4) - recHeader
	q.counted = q.maxMsgs != 0 || q.flags&(flagSingleProducer|flagSingleConsumer) != flagSingleProducer|flagSingleConsumer
	q.local = locals.Get(localKey{seg: ref.Seg, off: ref.Off, gen: ref.Gen}, func(nl *local) {
		nl.slip = slipMin
		nl.put.seq, nl.put.waiters = shm.Word32(b, offPutSeq), shm.Word32(b, offConsWait)
		nl.get.seq, nl.get.waiters = shm.Word32(b, offGetSeq), shm.Word32(b, offProdWait)
		nl.join.seq, nl.join.waiters = shm.Word32(b, offJoinSeq), shm.Word32(b, offJoinWait)
	})
	q.pm = robust.New(shm.Word64(b, offPLock), &q.plocal, kindProducer)
	q.cm = robust.New(shm.Word64(b, offCLock), &q.clocal, kindConsumer)
	q.fastPut = q.flags&(flagSingleProducer|flagJoinable) == flagSingleProducer && !q.counted
	q.fastGet = q.flags&flagSingleConsumer != 0 && !q.counted
	return q, nil
}

// Ref returns the Ref by which another process opens the queue.
func (q *Queue) Ref() shm.Ref { return q.ref }

// Free returns the queue's shared memory (and any message still spilled in it) to its heap. Call
// it once, when no process uses the queue any more; using any handle on it afterwards is
// undefined (it may fail with ErrCorrupt or shm.ErrBadRef, or touch memory since reused).
func (q *Queue) Free() error {
	d := *q // a handle that is not closed, to drain the queue with
	d.hclosed = 0
	for {
		_, ok, err := d.TryGet()
		if err != nil || !ok {
			break
		}
	}
	for ref, ok := q.takeSpare(); ok; ref, ok = q.takeSpare() {
		q.heap.Free(ref)
	}
	locals.Delete(localKey{seg: q.ref.Seg, off: q.ref.Off, gen: q.ref.Gen})
	return q.heap.Free(q.ref)
}

// Cap returns the capacity of the ring in bytes.
func (q *Queue) Cap() int { return int(q.capacity) }

// Close says that this handle will not be used again, as Python's Queue.close: the queue itself,
// and every other handle on it (in this process or another), go on working. Calls on this
// handle that would put, take or wait fail with ErrClosed from then on, and those blocked in it
// return ErrClosed; snapshots (Len, Empty, Full, IsShutdown) and Free still work. So a parent may
// close its handle once it has started a child that uses the queue. Reservations and Messages
// taken before Close are still committed, aborted or released as usual. Closing twice is
// harmless. To end the queue for every process, use Shutdown.
func (q *Queue) Close() error {
	if atomic.SwapUint32(&q.hclosed, 1) == 0 {
		// Wake this handle's waiters: those parked on the queue's words (the waiters of other
		// handles look again and sleep on) and those waiting for their turn to park.
		q.hcancel()
		q.wakeAll()
	}
	return nil
}

// Closed reports whether this handle was closed (Close); IsShutdown reports on the queue.
func (q *Queue) Closed() bool { return atomic.LoadUint32(&q.hclosed) != 0 }

// Shutdown shuts the queue down for every process, as Python's queue.Queue.shutdown: Put fails
// with ErrShutdown from then on, Get returns what the queue still holds and then ErrShutdown, and
// every call blocked on the queue, in every process, wakes and returns ErrShutdown (or the
// message it was waiting for). A producer that reserved before the shutdown may still commit.
// The word is stored with a sequentially consistent store and read atomically: a call that
// starts after Shutdown returned, in any process, sees it. Shutting down twice is harmless; it
// cannot be undone. On a closed handle it returns ErrClosed and does nothing.
func (q *Queue) Shutdown() error {
	if q.Closed() {
		return ErrClosed
	}
	atomic.StoreUint32(q.closed, 1)
	q.wakeAll()
	return nil
}

// IsShutdown reports whether the queue was shut down (by any process).
func (q *Queue) IsShutdown() bool { return atomic.LoadUint32(q.closed) != 0 }

func (q *Queue) wakeAll() {
	q.put.wake()
	q.get.wake()
	q.join.wake()
}

// stopErr returns why a call on q must stop now: ErrClosed when this handle was closed,
// ErrShutdown when the queue was shut down; nil when neither.
func (q *Queue) stopErr() error {
	if atomic.LoadUint32(&q.hclosed) != 0 {
		return ErrClosed
	}
	if atomic.LoadUint32(q.closed) != 0 {
		return ErrShutdown
	}
	return nil
}

// stopped reports whether stopErr is not nil: a condition that ends a wait.
func (q *Queue) stopped() bool { return atomic.LoadUint32(&q.hclosed)|atomic.LoadUint32(q.closed) != 0 }

// Len returns the number of messages in the queue: put (or being put) and not yet taken. It is a
// snapshot that other processes may change at once. With several producers, a reservation that
// was aborted, or whose producer died, counts until a consumer passes it. The count is exact
// whatever instant a producer or consumer was killed at: each counted step is finished exactly
// once by whoever comes next (docs/ring.md, "Counting messages").
func (q *Queue) Len() int {
	if !q.counted {
		// SPSC: count the published records from head on.
		n := 0
		for p, end := atomic.LoadUint64(q.head), uint64(0); end < q.capacity; {
			next, _, w, err := q.record(p, p+q.capacity-end)
			if err != nil || !q.isPublished(p) {
				break
			}
			if stateOf(w) == stCommitted || stateOf(w) == stReserved {
				n++
			}
			end += next - p
			p = next
		}
		return n
	}
	for {
		g := atomic.LoadUint64(q.nget)
		p := atomic.LoadUint64(q.nput)
		if atomic.LoadUint64(q.nget) == g {
			return int(min(countDiff(p, g), q.capacity/recAlign))
		}
	}
}

// Empty reports whether the queue holds no message (a snapshot).
func (q *Queue) Empty() bool {
	r := q.read
	if q.flags&flagSingleConsumer != 0 {
		r = q.head
	}
	return !q.isPublished(atomic.LoadUint64(r))
}

// isPublished reports whether a producer has published a record at position pos: whether the
// record's header names pos. Producers keep the word at tail from naming tail until they publish
// a record there (see publish), so a stale header or old payload bytes never pass for one.
func (q *Queue) isPublished(pos uint64) bool {
	return pos%recAlign == 0 && atomic.LoadUint64(shm.Word64(q.data, int(pos&q.mask))) == pos
}

// Full reports whether a Put of an empty message would have to wait now (a snapshot).
func (q *Queue) Full() bool {
	return !q.hasRoom(recHeader)
}

// hasRoom reports whether a record of need bytes would fit now (a hint for waiters).
func (q *Queue) hasRoom(need uint64) bool {
	t, h := atomic.LoadUint64(q.tail), atomic.LoadUint64(q.head)
	if t < h || t-h > q.capacity {
		return true // corrupt: let the caller find out under the lock
	}
	if q.maxMsgs != 0 && uint64(q.Len()) >= q.maxMsgs {
		return false
	}
	total := need + recHeader // and the next record's header, which publish marks
	if off := t & q.mask; off+need > q.capacity {
		total += q.capacity - off
	}
	return t+total-h <= q.capacity
}

// ---- producing ----

// Put appends msg to the queue, waiting while it is full.
func (q *Queue) Put(msg []byte) error {
	if q.fastPut && len(msg) <= q.inlineMax {
		if ok, err := q.putSingle(msg); ok || err != nil {
			return err
		}
	}
	return q.put1(forever, msg)
}

// PutBatch puts msgs in order, waiting while the queue is full, and returns how many it put (all
// of them unless it returns an error). With SingleProducer, small messages that fit are written
// one after another and published together with one store: the consumer meets the producer once
// per batch instead of once per message, and reads lines the producer has finished. Otherwise it
// is a loop of Put.
func (q *Queue) PutBatch(msgs [][]byte) (int, error) { return q.putBatch(forever, msgs) }

// PutBatchContext is PutBatch waiting for room only until ctx is done; it then returns how many
// it put and ctx.Err().
func (q *Queue) PutBatchContext(ctx context.Context, msgs [][]byte) (int, error) {
	return q.putBatch(contextBound(ctx), msgs)
}

func (q *Queue) putBatch(dl deadline, msgs [][]byte) (int, error) {
	for i := 0; i < len(msgs); {
		if q.fastPut {
			if n, err := q.putSingleBatch(msgs[i:]); err != nil {
				return i + n, err
			} else if n > 0 {
				i += n
				continue
			}
		}
		if err := q.put1(dl, msgs[i]); err != nil {
			return i, err
		}
		i++
	}
	return len(msgs), nil
}

// putSingleBatch writes as many of msgs as are small and fit now, and publishes them at once.
func (q *Queue) putSingleBatch(msgs [][]byte) (int, error) {
	if err := q.stopErr(); err != nil {
		return 0, err
	}
	start, err := q.singleTail()
	if err != nil {
		return 0, err
	}
	t := start
	n := 0
	for _, msg := range msgs {
		if len(msg) > q.inlineMax {
			break
		}
		need := recHeader + align(uint64(len(msg)))
		pos, skip, ok, err := q.room(t, need)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if skip {
			q.putHeader(start, t, uint32(q.capacity-t&q.mask-recHeader), stateWord(self, 0, stSkip))
		}
		copy(q.data[pos&q.mask+recHeader:], msg)
		q.putHeader(start, pos, uint32(len(msg)), stateWord(self, 0, stCommitted))
		t = pos + need
		n++
	}
	if t != start {
		q.publish(start, t)
		q.ptail = t
		q.put.signal()
	}
	return n, nil
}

// putSingle is Put for a single producer of a small message when there is room now: the record is
// written and published with one ordered store. It reports false when the slow path must run.
func (q *Queue) putSingle(msg []byte) (bool, error) {
	if atomic.LoadUint32(q.closed)|atomic.LoadUint32(&q.hclosed) != 0 {
		return false, q.stopErr()
	}
	// The common case in straight-line code: this process produced last, so its own copy of
	// tail is current (singleTail); no padding to the end of the ring; room by the head last
	// seen. putSingleSlow handles the rest.
	t := q.ptail
	off := t & q.mask
	need := recHeader + align(uint64(len(msg)))
	if !q.psynced || atomic.LoadUint32(q.owner) != uint32(self) || t%recAlign != 0 ||
		off+need+recHeader > q.capacity || t < q.cachedHead || t+need+recHeader-q.cachedHead > q.capacity {
		return q.putSingleSlow(msg)
	}
	copy(q.data[off+recHeader:off+need], msg)
	q.putHeader(t, t, uint32(len(msg)), stateWord(self, 0, stCommitted))
	q.publish(t, t+need)
	q.ptail = t + need
	q.put.signal()
	return true, nil
}

// putSingleSlow is putSingle's general case: a batch of one.
func (q *Queue) putSingleSlow(msg []byte) (bool, error) {
	one := [1][]byte{msg}
	n, err := q.putSingleBatch(one[:])
	return n == 1, err
}

// singleTail returns where the single producer's next record goes. The producer keeps that
// position in this process, so that a Put loads neither tail nor the word at tail, for as long
// as the owner word names this process; when another process produced since (or this one has
// not yet), it starts again from producerTail.
func (q *Queue) singleTail() (uint64, error) {
	if q.psynced && atomic.LoadUint32(q.owner) == uint32(self) {
		return q.ptail, nil
	}
	t, err := q.producerTail()
	if err != nil {
		return 0, err
	}
	atomic.StoreUint32(q.owner, uint32(self))
	q.ptail, q.psynced = t, true
	return t, nil
}

// producerTail returns where the next record goes: tail, or past the records after it whose
// producer died after publishing them and before it moved tail, counting those of them that it
// did not count (see count.go). The caller is the single producer, or holds the producer lock.
func (q *Queue) producerTail() (uint64, error) {
	t := atomic.LoadUint64(q.tail)
	for i := uint64(0); q.isPublished(t); i++ {
		next, _, w, err := q.record(t, t+q.capacity)
		if err != nil {
			return 0, err
		}
		if i > q.capacity/recAlign {
			return 0, corrupt("published records past tail %d go round the ring", t)
		}
		if c := atomic.LoadUint64(q.nput); q.counted && c&tagMask == tagOf(t) {
			// Not counted yet. A count that names a later position counts the records up to
			// there: the dead producer published them together (padding and its record).
			count(q.nput, c, next, msgCount(w))
			hook("walk:counted")
		}
		t = next
		atomic.StoreUint64(q.tail, t)
	}
	if q.counted {
		if err := checkTag(q.nput, t, "put"); err != nil {
			return 0, err
		}
	}
	return t, nil
}

// putHeader writes the header of the record at pos with plain stores, all but the position word
// of the record at start, which publish writes last. Stores that precede publish's are visible
// to a consumer that sees the record at start, so the records after it may be written in any
// order.
func (q *Queue) putHeader(start, pos uint64, n, state uint32) {
	off := pos & q.mask
	h := q.data[off : off+recHeader]
	binary.LittleEndian.PutUint32(h[8:12], n)
	binary.LittleEndian.PutUint32(h[12:16], state)
	if pos != start {
		binary.LittleEndian.PutUint64(h[0:8], pos)
	}
}

// publish makes the records from start to end, written by putHeader, visible to consumers. It
// first marks end as holding no record (the word at tail must never name tail before a record
// there is published: that is how consumers tell a new record from a stale header or old payload
// bytes, without reading tail), then stores start's position word, which consumers recognise a
// record by, with a release store (a consumer about to sleep allows for its delay: see
// wakeup.park). Then it moves tail, which only producers and hints rely on.
func (q *Queue) publish(start, end uint64) {
	binary.LittleEndian.PutUint64(q.data[end&q.mask:], noRecord)
	fence.StoreRelease((*uint64)(unsafe.Pointer(&q.data[start&q.mask])), start) // start is 16-aligned
	fence.StoreRelease(q.tail, end)
}

// publishCounted is publish for a counted queue, with one message from start to end: it counts
// the message after it publishes the record and before it moves tail, so that a producer that
// finds tail behind a published record knows from the count's tag whether to count it
// (countStep). The caller has checked that the count's tag names start (producerTail).
func (q *Queue) publishCounted(start, end uint64) {
	binary.LittleEndian.PutUint64(q.data[end&q.mask:], noRecord)
	fence.StoreRelease((*uint64)(unsafe.Pointer(&q.data[start&q.mask])), start) // start is 16-aligned
	hook("put:published")
	count(q.nput, atomic.LoadUint64(q.nput), end, 1)
	hook("put:counted")
	fence.StoreRelease(q.tail, end)
}

// PutTimeout is Put waiting at most d (0: not at all; Forever: no bound); an error matching
// ErrTimeout when the queue stayed full.
func (q *Queue) PutTimeout(msg []byte, d time.Duration) error {
	dl, err := newDeadline(d)
	if err != nil {
		return err
	}
	return timeoutErr("ring: Put", d, q.put1(dl, msg))
}

// PutContext is Put waiting until ctx is done; it then returns ctx.Err().
func (q *Queue) PutContext(ctx context.Context, msg []byte) error {
	return q.put1(contextBound(ctx), msg)
}

// TryPut puts msg if there is room now, and reports whether it did.
func (q *Queue) TryPut(msg []byte) (bool, error) {
	err := q.put1(tryNow, msg)
	if err == ErrTimeout {
		return false, nil
	}
	return err == nil, err
}

func (q *Queue) put1(dl deadline, msg []byte) error {
	var w Reservation
	if err := q.reserve(&dl, len(msg), &w); err != nil {
		return err
	}
	copy(w.buf, msg)
	return w.Commit()
}

// A Reservation is room for one message, reserved in a queue by Reserve: write the message into
// Bytes, then Commit it (or Abort). Each successful Reserve must be followed by exactly one Commit
// or Abort, from the goroutine that reserved; with several producers, consumers wait at this
// message until then (later ones stay behind it). A process killed before Commit leaves no
// message: the consumers skip it.
type Reservation struct {
	q     *Queue
	start uint64 // where the record's publication starts: pos, or the padding before it
	pos   uint64
	need  uint64 // bytes of the record, header included
	n     uint32 // message length
	state uint32 // the state word while reserved
	buf   []byte
	spill shm.Ref
}

// Bytes returns the message's memory, of the length asked for: in the ring, or in a heap block
// when the message is large. Its contents are unspecified (not zeroed): write all of it. It is
// valid until Commit or Abort.
func (w *Reservation) Bytes() []byte { return w.buf }

// Reserve reserves room for an n-byte message, waiting while the queue is full.
func (q *Queue) Reserve(n int) (*Reservation, error) { return q.reserveNew(forever, n) }

// ReserveTimeout is Reserve waiting at most d; an error matching ErrTimeout when the queue
// stayed full.
func (q *Queue) ReserveTimeout(n int, d time.Duration) (*Reservation, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	w, err := q.reserveNew(dl, n)
	return w, timeoutErr("ring: Reserve", d, err)
}

// ReserveContext is Reserve waiting until ctx is done; it then returns ctx.Err().
func (q *Queue) ReserveContext(ctx context.Context, n int) (*Reservation, error) {
	return q.reserveNew(contextBound(ctx), n)
}

func (q *Queue) reserveNew(dl deadline, n int) (*Reservation, error) {
	w := new(Reservation)
	if err := q.reserve(&dl, n, w); err != nil {
		return nil, err
	}
	return w, nil
}

func (q *Queue) reserve(dl *deadline, n int, w *Reservation) error {
	if n < 0 || (q.maxMsg != 0 && n > q.maxMsg) || n > shm.MaxAlloc || n > 1<<32-1 {
		return fmt.Errorf("%w: %d bytes (maximum %d)", ErrTooLarge, n, q.maxMsg)
	}
	*w = Reservation{q: q, n: uint32(n)}
	body, flags := uint64(n), uint32(0)
	if n > q.inlineMax {
		body, flags = spillBody, recSpilled
		if err := q.stopErr(); err != nil {
			return err
		}
		ref, blk, err := q.spillBlock(dl, n)
		if err != nil {
			return err
		}
		w.spill, w.buf = ref, blk[:n]
	}
	w.need = recHeader + align(body)
	w.state = stateWord(self, flags, stReserved)
	if q.flags&flagJoinable != 0 {
		atomic.AddUint32(q.unfin, 1)
	}
	err := q.reserveWait(dl, w)
	if err != nil {
		q.untask()
		if !w.spill.IsZero() {
			q.putSpare(w.spill)
		}
		w.q = nil
		return err
	}
	rec := q.data[w.pos&q.mask+recHeader:]
	if flags&recSpilled != 0 {
		binary.LittleEndian.PutUint64(rec[0:8], w.spill.Off)
		binary.LittleEndian.PutUint32(rec[8:12], w.spill.Gen)
	} else {
		w.buf = rec[:n:n]
	}
	return nil
}

// reserveWait finds room for w's record, waiting as dl allows, and sets w.pos.
func (q *Queue) reserveWait(dl *deadline, w *Reservation) error {
	single := q.flags&flagSingleProducer != 0
	waiting := false
	defer func() {
		if waiting {
			q.putTurn.Give()
		}
	}()
	for {
		var ok bool
		var err error
		if single {
			ok, err = q.reserveSingle(w)
		} else {
			q.pmu.Lock()
			if err = q.pm.LockForever(); err == nil {
				ok, err = q.reserveLocked(w)
				q.pm.Unlock() // taken just above, with pmu held: it cannot fail but for a scribble, which the next Lock reports
			}
			q.pmu.Unlock()
		}
		if err != nil || ok {
			return err
		}
		if !waiting && !dl.IsTry() {
			if err := q.takeTurn(&q.putTurn, dl); err != nil {
				return err
			}
			waiting = true
			continue
		}
		need := w.need
		if _, err := q.get.park(dl, func() bool { return q.hasRoom(need) || q.stopped() }); err != nil {
			return err
		}
	}
}

// room returns where a record of need bytes goes after tail t and whether it fits now; skip says
// whether padding to the end of the data area goes first. It reloads head when the cached one
// says no.
func (q *Queue) room(t, need uint64) (pos uint64, skip, ok bool, err error) {
	if t%recAlign != 0 {
		return 0, false, false, corrupt("tail %d is not %d-aligned", t, recAlign)
	}
	off := t & q.mask
	total := need + recHeader // and the next record's header, which publish marks
	skip = off+need > q.capacity
	if skip {
		total += q.capacity - off
	}
	if h := q.cachedHead; h > t || t+total-h > q.capacity {
		h = atomic.LoadUint64(q.head)
		if h > t || t-h > q.capacity {
			return 0, false, false, corrupt("head %d, tail %d, capacity %d", h, t, q.capacity)
		}
		q.cachedHead = h
		if t+total-h > q.capacity {
			return 0, false, false, nil
		}
	}
	if q.maxMsgs != 0 && countDiff(atomic.LoadUint64(q.nput), atomic.LoadUint64(q.nget)) >= q.maxMsgs {
		return 0, false, false, nil
	}
	if skip {
		t += q.capacity - off
	}
	return t, skip, true, nil
}

// reserveSingle places w's record for a single producer: nothing is published until Commit.
func (q *Queue) reserveSingle(w *Reservation) (bool, error) {
	if err := q.stopErr(); err != nil {
		return false, err
	}
	t, err := q.singleTail()
	if err != nil {
		return false, err
	}
	pos, skip, ok, err := q.room(t, w.need)
	if !ok || err != nil {
		return false, err
	}
	if skip {
		q.putHeader(t, t, uint32(q.capacity-t&q.mask-recHeader), stateWord(self, 0, stSkip))
	}
	w.start, w.pos = t, pos
	return true, nil
}

// spillBlock returns a heap block for an n-byte spilled message: the queue's spare block when it
// is large enough (no allocation, and no clearing of memory about to be overwritten), else a new
// one, waiting as dl allows when the heap is full of this queue's messages.
func (q *Queue) spillBlock(dl *deadline, n int) (shm.Ref, []byte, error) {
	if ref, ok := q.takeSpare(); ok {
		blk, err := q.seg.Object(ref)
		if err == nil && len(blk) >= n {
			return ref, blk, nil
		}
		if err == nil {
			q.heap.Free(ref)
		}
		// A spare that does not validate is lost (ErrCorrupt material): allocate instead.
	}
	ref, err := q.heap.Alloc(n, spillKind)
	for errors.Is(err, shm.ErrNoSpace) && !q.Empty() {
		// The heap is full of messages spilled by this queue (among others): wait until a
		// consumer frees one, as if the ring were full.
		if err := q.stopErr(); err != nil {
			return shm.Ref{}, nil, err // else the wait below would end at once, forever
		}
		if _, err := q.get.park(dl, func() bool { return q.Empty() || q.stopped() }); err != nil {
			return shm.Ref{}, nil, err
		}
		ref, err = q.heap.Alloc(n, spillKind)
	}
	if err != nil {
		return shm.Ref{}, nil, err
	}
	blk, err := q.seg.Object(ref)
	if err != nil {
		q.heap.Free(ref)
		return shm.Ref{}, nil, err
	}
	return ref, blk, nil
}

// The spare words hold spilled messages' blocks that their consumers handed back for the next
// large messages: offset/64 in the low 40 bits, generation in the high 24 (0: none).
const (
	spares       = 2
	spareGenBits = 24
)

func (q *Queue) takeSpare() (shm.Ref, bool) {
	for i := range spares {
		if v := atomic.SwapUint64(q.spare[i], 0); v != 0 {
			return shm.Ref{Seg: q.seg.ID(), Name: q.seg.Name(), Kind: spillKind,
				Off: (v & (1<<40 - 1)) * 64, Gen: uint32(v >> 40)}, true
		}
	}
	return shm.Ref{}, false
}

// putSpare parks a spilled message's block for reuse, or frees it when the spare words are taken.
func (q *Queue) putSpare(ref shm.Ref) error {
	if ref.Off%64 == 0 && ref.Off>>6 < 1<<40 && ref.Gen < 1<<spareGenBits && ref.Gen != 0 {
		for i := range spares {
			if atomic.CompareAndSwapUint64(q.spare[i], 0, ref.Off>>6|uint64(ref.Gen)<<40) {
				return nil
			}
		}
	}
	return q.heap.Free(ref)
}

// untask takes back the task count of a message that will not be delivered (JoinableQueue).
func (q *Queue) untask() {
	if q.flags&flagJoinable == 0 {
		return
	}
	for {
		v := atomic.LoadUint32(q.unfin)
		if v == 0 || atomic.CompareAndSwapUint32(q.unfin, v, v-1) {
			if v == 1 {
				q.join.signal()
			}
			return
		}
	}
}

// reserveLocked appends w's record, reserved, if there is room. The caller holds the producer
// lock.
func (q *Queue) reserveLocked(w *Reservation) (bool, error) {
	if err := q.stopErr(); err != nil {
		return false, err
	}
	t, err := q.producerTail()
	if err != nil {
		return false, err
	}
	pos, skip, ok, err := q.room(t, w.need)
	if !ok || err != nil {
		return false, err
	}
	if skip {
		q.putHeader(t, t, uint32(q.capacity-t&q.mask-recHeader), stateWord(self, 0, stSkip))
	}
	q.putHeader(t, pos, w.n, w.state)
	// Publishes the record, reserved, to the consumers, which wait at it until Commit.
	q.publishCounted(t, pos+w.need)
	w.start, w.pos = t, pos
	return true, nil
}

func (q *Queue) stateAt(pos uint64) *uint32 { return shm.Word32(q.data, int(pos&q.mask)+12) }

// Commit publishes the reserved message to the consumers (and wakes them if they wait).
func (w *Reservation) Commit() error {
	q := w.q
	if q == nil {
		return fmt.Errorf("ring: Commit of a used or zero Reservation")
	}
	w.q = nil
	if q.flags&flagSingleProducer != 0 {
		q.putHeader(w.start, w.pos, w.n, w.state&^15|stCommitted)
		if q.counted {
			q.publishCounted(w.start, w.pos+w.need)
		} else {
			q.publish(w.start, w.pos+w.need)
		}
		q.ptail = w.pos + w.need
	} else if !atomic.CompareAndSwapUint32(q.stateAt(w.pos), w.state, w.state&^15|stCommitted) {
		return corrupt("record at %d changed under its producer", w.pos)
	}
	q.put.signal()
	return nil
}

// Abort gives the reservation up: no consumer sees it.
func (w *Reservation) Abort() error {
	q := w.q
	if q == nil {
		return fmt.Errorf("ring: Abort of a used or zero Reservation")
	}
	w.q = nil
	if !w.spill.IsZero() {
		q.putSpare(w.spill)
	}
	if q.flags&flagSingleProducer != 0 {
		q.untask()
		return nil // nothing was published
	}
	// Abandoned first, then the task taken back: a producer killed in between leaves the task
	// count one too high (Join waits), never one too low, which the consumer that finds the
	// record reserved by a dead producer would make it by taking the task back again.
	ok := atomic.CompareAndSwapUint32(q.stateAt(w.pos), w.state, w.state&^15|stAbandoned)
	hook("abort:abandoned")
	q.untask()
	if !ok {
		return corrupt("record at %d changed under its producer", w.pos)
	}
	q.put.signal()
	return nil
}
