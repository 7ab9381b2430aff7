package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/fence"
	"github.com/shmkit/shmkit/shm"
)

// Get removes the oldest message from the queue and returns a copy of it, waiting while the queue
// is empty. On a queue shut down it returns what is left, then ErrShutdown.
func (q *Queue) Get() ([]byte, error) {
	if q.fastGet && atomic.LoadUint32(&q.hclosed) == 0 {
		if out, ok := q.getFast(nil); ok {
			if out == nil {
				out = []byte{} // an empty message, as get1 returns it
			}
			return out, nil
		}
	}
	return q.get1(forever, nil)
}

// w&0xff == stCommitted: committed and not spilled.
var _ = [1]struct{}{}[stCommitted>>8]

// GetTimeout is Get waiting at most d (0: not at all; Forever: no bound); an error matching
// ErrTimeout when the queue stayed empty.
func (q *Queue) GetTimeout(d time.Duration) ([]byte, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	b, err := q.get1(dl, nil)
	return b, timeoutErr("ring: Get", d, err)
}

// GetContext is Get waiting until ctx is done; it then returns ctx.Err().
func (q *Queue) GetContext(ctx context.Context) ([]byte, error) {
	return q.get1(contextBound(ctx), nil)
}

// TryGet takes a message if there is one now, and reports whether it did.
func (q *Queue) TryGet() ([]byte, bool, error) {
	b, err := q.get1(tryNow, nil)
	if err == ErrTimeout {
		return nil, false, nil
	}
	return b, err == nil, err
}

// GetAppend is Get appending the message to dst (so a caller can reuse one buffer and allocate
// nothing); it returns the extended slice.
func (q *Queue) GetAppend(dst []byte) ([]byte, error) {
	if dst == nil {
		dst = []byte{}
	}
	if q.fastGet && atomic.LoadUint32(&q.hclosed) == 0 {
		// getFast, one call shallower on the path every streamed message takes.
		if out, ok := q.getSingle(dst); ok {
			q.streak++
			return out, nil
		}
		if out, ok := q.getSlipped(dst); ok {
			return out, nil
		}
	}
	return q.get1(forever, dst)
}

// getFast is getSingle for Get and GetAppend, with the consumer's slip.
func (q *Queue) getFast(dst []byte) ([]byte, bool) {
	if out, ok := q.getSingle(dst); ok {
		q.streak++
		return out, true
	}
	return q.getSlipped(dst)
}

// getSlipped follows a getSingle that found no message: it ends the consumer's streak, after
// the slip when the streak was long enough.
func (q *Queue) getSlipped(dst []byte) ([]byte, bool) {
	if q.streak >= slipStreak {
		// The producer streams and the consumer has caught up with it: reading the record the
		// producer writes next would pull its cache line away under it, at every message. Stay
		// away for a moment instead, and then take what has piled up, from lines the producer
		// is done with. The moment adapts so that each catching up is spread over some tens of
		// messages: longer while the consumer finds only a few messages each time (a slow
		// producer, or one slowed by the consumer's visits), shorter while it finds many.
		switch {
		case q.streak < slipFew && q.slip < slipMax:
			q.slip *= 2
		case q.streak > slipMany && q.slip > slipMin:
			q.slip /= 2
		}
		q.streak = 0
		pause(q.slip)
		if out, ok := q.getSingle(dst); ok {
			q.streak++
			return out, true
		}
	}
	q.streak = 0
	return dst, false
}

// When the single consumer finds the queue empty after taking at least slipStreak messages in a
// row, it waits q.slip pause iterations before it looks again: from slipMin (about a quarter of a
// microsecond) to slipMax (about four), doubled when it took fewer than slipFew messages since the
// last such wait and halved when it took more than slipMany. See GetAppend and docs/ring.md. A
// consumer that takes messages one at a time as they come (a ping-pong) never has such a streak
// and never waits this way.
const (
	slipStreak = 2
	slipMin    = 500
	slipMax    = 8000
	slipFew    = 64
	slipMany   = 256
)

// getSingle is Get for the single consumer when a complete small message is at head: it finds
// the record by its header (never reading tail, whose cache line stays with the producer), copies
// it and frees it with one ordered store. It reports false when the slow path must run.
func (q *Queue) getSingle(dst []byte) ([]byte, bool) {
	r := atomic.LoadUint64(q.head)
	if !q.isPublished(r) {
		return dst, false
	}
	// A published record is immutable until head passes it: plain loads suffice, and anything
	// unexpected goes to the slow path, which validates and reports.
	off := r & q.mask
	h := q.data[off : off+recHeader : off+recHeader]
	n := binary.LittleEndian.Uint32(h[8:12])
	if binary.LittleEndian.Uint32(h[12:16])&0xff != stCommitted ||
		off+recHeader+uint64(n) > q.capacity {
		return dst, false
	}
	off += recHeader
	dst = append(dst, q.data[off:off+uint64(n)]...)
	// Hands the record's space back to the producer.
	fence.StoreRelease(q.head, r+recHeader+align(uint64(n)))
	q.get.signal()
	return dst, true
}

// GetAppendTimeout is GetAppend waiting at most d; an error matching ErrTimeout when the queue
// stayed empty.
func (q *Queue) GetAppendTimeout(dst []byte, d time.Duration) ([]byte, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		dst = []byte{}
	}
	b, err := q.get1(dl, dst)
	return b, timeoutErr("ring: GetAppend", d, err)
}

// GetAppendContext is GetAppend waiting until ctx is done; it then returns ctx.Err().
func (q *Queue) GetAppendContext(ctx context.Context, dst []byte) ([]byte, error) {
	if dst == nil {
		dst = []byte{}
	}
	return q.get1(contextBound(ctx), dst)
}

func (q *Queue) get1(dl deadline, dst []byte) ([]byte, error) {
	var m Message
	if err := q.claim(&dl, &m); err != nil {
		return dst, err
	}
	if dst == nil {
		dst = make([]byte, len(m.buf))
		copy(dst, m.buf)
	} else {
		dst = append(dst, m.buf...)
	}
	return dst, m.Release()
}

// A Message is a message taken from a queue by Peek, still in shared memory: read Bytes, then
// Release it. Until Release its space stays in use (later messages are still delivered; only
// the room they take is not reused). A process killed before Release leaves the message to be
// delivered again, to another consumer (see Queue).
type Message struct {
	q     *Queue
	pos   uint64
	next  uint64 // the position after the record
	n     uint32 // the message's length, as validated when claimed
	state uint32 // claimed by this process
	buf   []byte
	spill shm.Ref
}

// Bytes returns the message. It aliases shared memory and is valid until Release.
func (m *Message) Bytes() []byte { return m.buf }

// Peek takes the oldest message from the queue without copying it, waiting while the queue is
// empty; Release it when done.
func (q *Queue) Peek() (*Message, error) { return q.peek(forever) }

// PeekTimeout is Peek waiting at most d; an error matching ErrTimeout when the queue stayed
// empty.
func (q *Queue) PeekTimeout(d time.Duration) (*Message, error) {
	dl, err := newDeadline(d)
	if err != nil {
		return nil, err
	}
	m, err := q.peek(dl)
	return m, timeoutErr("ring: Peek", d, err)
}

// PeekContext is Peek waiting until ctx is done; it then returns ctx.Err().
func (q *Queue) PeekContext(ctx context.Context) (*Message, error) {
	return q.peek(contextBound(ctx))
}

func (q *Queue) peek(dl deadline) (*Message, error) {
	m := new(Message)
	if err := q.claim(&dl, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Release frees the message's memory for new messages. Call it once. With SingleConsumer,
// release messages in the order they were taken.
func (m *Message) Release() error {
	q := m.q
	if q == nil {
		return fmt.Errorf("ring: Release of a released or zero Message")
	}
	m.q, m.buf = nil, nil
	var ferr error
	if !m.spill.IsZero() {
		ferr = q.putSpare(m.spill)
	}
	if q.flags&flagSingleConsumer != 0 {
		var cerr error
		if q.counted {
			// Counted before head moves: a consumer killed in between leaves the message
			// to be delivered again, and the count's tag says it is counted already.
			cerr = countStep(q.nget, m.pos, m.next, 1)
			hook("release:counted")
		}
		// Hands the record's space back to the producer.
		fence.StoreRelease(q.head, m.next)
		q.get.signal()
		return errors.Join(ferr, cerr)
	}
	if !atomic.CompareAndSwapUint32(q.stateAt(m.pos), m.state, m.state&^15|stDone) {
		return corrupt("record at %d changed under its consumer", m.pos)
	}
	if err := q.advanceHead(); err != nil {
		return err
	}
	return ferr
}

const (
	claimOK        = iota // m holds a message
	claimEmpty            // nothing at read
	claimProducing        // the record at read is still being written
)

// claim takes the record at read for m, waiting as dl allows.
func (q *Queue) claim(dl *deadline, m *Message) error {
	checkPid := false
	waiting := false
	defer func() {
		if waiting {
			q.getTurn.Give()
		}
	}()
	for {
		if atomic.LoadUint32(&q.hclosed) != 0 {
			return ErrClosed
		}
		var res int
		var r uint64
		var st uint32
		var err error
		if q.flags&flagSingleConsumer != 0 {
			res, r, st, err = q.claimSingle(m, checkPid)
		} else {
			q.cmu.Lock()
			if err = q.cm.LockForever(); err == nil {
				res, r, st, err = q.claimLocked(m, checkPid)
				q.cm.Unlock() // see reserveWait
			}
			q.cmu.Unlock()
		}
		if err != nil {
			return err
		}
		if res == claimOK {
			return q.fill(m)
		}
		if !waiting && !dl.IsTry() {
			if err := q.takeTurn(&q.getTurn, dl); err != nil {
				return err
			}
			waiting = true
			continue
		}
		var ready bool
		switch res {
		case claimEmpty:
			// The next record's header is the line the producer writes next anyway: watching
			// it leaves tail's cache line to the producer while the consumer waits.
			ready, err = q.put.park(dl, func() bool { return q.isPublished(r) || q.stopped() })
			if err == nil && !ready && q.flags&flagSingleConsumer == 0 {
				// A tick without news: look for a message whose consumer died while taking it.
				if q.reap(m) {
					return q.fill(m)
				}
			}
		case claimProducing:
			// Only the record's state counts, not Shutdown: a producer that reserved before
			// Shutdown still commits, and one that died must be found dead after a quiet tick,
			// which would never come if Shutdown ended every wait at once. This handle's Close
			// does end the wait.
			stp := q.stateAt(r)
			ready, err = q.put.park(dl, func() bool { return atomic.LoadUint32(stp) != st || q.Closed() })
			checkPid = !ready
		}
		if err != nil {
			return err
		}
	}
}

// Counts of recoveries in this process, for tests (export_test.go).
var abandoned, reaped atomic.Uint64

// recordAt reads the record at the index *at (read or head, named name in errors): its position,
// the position after it, its length and state word. When the queue is empty it returns next == r,
// or ErrShutdown if the queue was shut down. Indices that cannot be are ErrCorrupt.
//
// Records are found by their headers (see isPublished); tail, which producers move just after
// they publish, only bounds the records below it, and the index may pass it for a moment.
func (q *Queue) recordAt(at *uint64, name string) (r, next uint64, n, w uint32, err error) {
	r = atomic.LoadUint64(at)
	t := q.cachedTail
	if r >= t {
		t = atomic.LoadUint64(q.tail)
		q.cachedTail = t
	}
	if r%recAlign != 0 || r-t > q.capacity && t-r > q.capacity {
		return 0, 0, 0, 0, corrupt("%s %d, tail %d, capacity %d", name, r, t, q.capacity)
	}
	if r >= t {
		if !q.isPublished(r) {
			if q.IsShutdown() {
				return 0, 0, 0, 0, ErrShutdown
			}
			return r, r, 0, 0, nil
		}
		t = r + q.capacity // the header vouches for the record; record bounds it by the ring
	}
	next, n, w, err = q.record(r, t)
	return r, next, n, w, err
}

// claimLocked takes the record at read, under the consumer lock (or as the only consumer). It
// returns claimEmpty with the tail it saw, or claimProducing with the record's position and state.
func (q *Queue) claimLocked(m *Message, checkPid bool) (res int, pos uint64, st uint32, err error) {
	for {
		r, next, n, w, err := q.recordAt(q.read, "read")
		if err != nil {
			return 0, 0, 0, err
		}
		if r == next {
			return claimEmpty, r, 0, nil
		}
		// Every step past a record counts it (countStep) before it moves read: a consumer killed
		// in between leaves the record at read, and its successor finishes the step.
		switch stateOf(w) {
		case stSkip, stDone, stAbandoned:
			// Padding; aborted; or a step a dead consumer did not finish.
			if err := countStep(q.nget, r, next, msgCount(w)); err != nil {
				return 0, 0, 0, err
			}
			if stateOf(w) == stAbandoned {
				hook("skip:counted")
			}
			atomic.StoreUint64(q.read, next)
			continue
		case stReserved:
			if checkPid && !q.alive(pidOf(w)) {
				if atomic.CompareAndSwapUint32(q.stateAt(r), w, w&^15|stAbandoned) {
					hook("skip:abandoned")
					abandoned.Add(1)
					q.untask()
				}
				continue // and pass it as abandoned
			}
			return claimProducing, r, w, nil
		case stClaimed:
			// Claimed at read: its consumer died holding the consumer lock, before it moved
			// read. It never returned the message; take it over.
			if q.alive(pidOf(w)) {
				return 0, 0, 0, corrupt("record at %d claimed by live process %d but not passed", r, pidOf(w))
			}
			fallthrough
		case stCommitted:
			claimed := stateWord(self, flagsOf(w), stClaimed)
			if !atomic.CompareAndSwapUint32(q.stateAt(r), w, claimed) {
				continue
			}
			hook("claim:claimed")
			if err := countStep(q.nget, r, next, 1); err != nil {
				// Give the record back to the next consumer, which reports the same.
				atomic.StoreUint32(q.stateAt(r), w&^15|stCommitted)
				return 0, 0, 0, err
			}
			hook("claim:counted")
			atomic.StoreUint64(q.read, next)
			m.q, m.pos, m.next, m.n, m.state = q, r, next, n, claimed
			return claimOK, r, claimed, nil
		default:
			return 0, 0, 0, corrupt("record at %d has state %#x", r, w)
		}
	}
}

// claimSingle takes the record at head for the single consumer, which writes nothing to the
// record: head stays before it until Release.
func (q *Queue) claimSingle(m *Message, checkPid bool) (res int, pos uint64, st uint32, err error) {
	for {
		r, next, n, w, err := q.recordAt(q.head, "head")
		if err != nil {
			return 0, 0, 0, err
		}
		if r == next {
			return claimEmpty, r, 0, nil
		}
		switch stateOf(w) {
		case stSkip, stAbandoned:
			if q.counted {
				// Counted before head moves, as in Release.
				if err := countStep(q.nget, r, next, msgCount(w)); err != nil {
					return 0, 0, 0, err
				}
				if stateOf(w) == stAbandoned {
					hook("skip:counted")
				}
			}
			fence.StoreRelease(q.head, next)
			continue
		case stReserved:
			if checkPid && !q.alive(pidOf(w)) {
				if atomic.CompareAndSwapUint32(q.stateAt(r), w, w&^15|stAbandoned) {
					hook("skip:abandoned")
					abandoned.Add(1)
					q.untask()
				}
				continue // and pass it as abandoned
			}
			return claimProducing, r, w, nil
		case stCommitted:
			m.q, m.pos, m.next, m.n, m.state = q, r, next, n, w
			return claimOK, r, w, nil
		default:
			return 0, 0, 0, corrupt("record at %d has state %#x", r, w)
		}
	}
}

// record validates the header of the record at pos, which must lie below limit, and returns the
// position after it and its state word.
func (q *Queue) record(pos, limit uint64) (next uint64, n uint32, w uint32, err error) {
	if pos%recAlign != 0 {
		return 0, 0, 0, corrupt("record position %d is not %d-aligned", pos, recAlign)
	}
	off := pos & q.mask
	p := atomic.LoadUint64(shm.Word64(q.data, int(off)))
	n = atomic.LoadUint32(shm.Word32(q.data, int(off)+8))
	w = atomic.LoadUint32(shm.Word32(q.data, int(off)+12))
	if p != pos {
		return 0, 0, 0, corrupt("record at %d says it is at %d", pos, p)
	}
	var size uint64
	switch {
	case stateOf(w) == stSkip:
		if off+recHeader+uint64(n) != q.capacity {
			return 0, 0, 0, corrupt("skip record at %d of %d bytes", pos, n)
		}
		size = q.capacity - off
	case flagsOf(w)&recSpilled != 0:
		size = recHeader + spillBody
	default:
		size = recHeader + align(uint64(n))
	}
	if off+size > q.capacity || pos+size > limit {
		return 0, 0, 0, corrupt("record at %d of %d bytes overruns (limit %d)", pos, n, limit)
	}
	return pos + size, n, w, nil
}

// fill points m at the payload of the record it claimed.
func (q *Queue) fill(m *Message) error {
	off := int(m.pos & q.mask)
	n := int(m.n)
	if flagsOf(m.state)&recSpilled == 0 {
		m.buf = q.data[off+recHeader : off+recHeader+n : off+recHeader+n]
		return nil
	}
	body := q.data[off+recHeader : off+recHeader+spillBody]
	ref := shm.Ref{Seg: q.seg.ID(), Name: q.seg.Name(), Kind: spillKind,
		Off: binary.LittleEndian.Uint64(body[0:8]), Gen: binary.LittleEndian.Uint32(body[8:12])}
	blk, err := q.seg.Object(ref)
	if err == nil && len(blk) < n {
		err = corrupt("spilled message of %d bytes in a %d-byte block", n, len(blk))
	}
	if err != nil {
		m.buf = nil
		if rerr := m.Release(); rerr != nil {
			return rerr
		}
		return fmt.Errorf("%w: spilled message at %d: %v", ErrCorrupt, m.pos, err)
	}
	m.buf, m.spill = blk[:n:n], ref
	return nil
}

// advanceHead moves head past every record at its front that is done, abandoned or padding, and
// wakes the producers that wait for room.
func (q *Queue) advanceHead() error {
	moved := false
	defer func() {
		if moved {
			q.get.signal()
		}
	}()
	for {
		h := atomic.LoadUint64(q.head)
		r := atomic.LoadUint64(q.read)
		if h >= r {
			if h > r && atomic.LoadUint64(q.head) == h && atomic.LoadUint64(q.read) == r {
				return corrupt("head %d past read %d", h, r)
			}
			return nil
		}
		next, _, w, err := q.record(h, r)
		if err != nil {
			if atomic.LoadUint64(q.head) != h {
				continue // another consumer moved head and the space was reused meanwhile
			}
			return err
		}
		switch stateOf(w) {
		case stDone, stAbandoned, stSkip:
		default:
			return nil
		}
		if atomic.CompareAndSwapUint64(q.head, h, next) {
			moved = true
		}
	}
}

// reap looks between head and read for a message claimed by a consumer that died before it
// released it, and takes it over for m.
func (q *Queue) reap(m *Message) bool {
	h := atomic.LoadUint64(q.head)
	r := atomic.LoadUint64(q.read)
	for p := h; p < r; {
		next, n, w, err := q.record(p, r)
		if err != nil {
			return false // moved under us, or corrupt: the next Get reports the latter
		}
		if stateOf(w) == stClaimed && !q.alive(pidOf(w)) {
			claimed := stateWord(self, flagsOf(w), stClaimed)
			if atomic.CompareAndSwapUint32(q.stateAt(p), w, claimed) {
				reaped.Add(1)
				m.q, m.pos, m.next, m.n, m.state = q, p, next, n, claimed
				return true
			}
		}
		p = next
	}
	return false
}
