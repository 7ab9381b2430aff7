package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/shm"
)

// Bulk chunks: a Map (or MapAsync) of a function whose argument and result are both raw types
// (pointer-free, fixed size, no bool) sends no item one by one. A chunk's arguments are copied, as
// one array, into a block of the default heap (kind pool.bulk), followed by room for the chunk's
// results; the chunk message only names the block. The worker runs the items in order, writes
// each result in place and then advances the slot's done word (word 1 of its state line) to the
// id after the item's. One message comes back per chunk (resBulk) plus one per failed item (an
// error or a panic, sent before the done word passes the item).
//
// A death stays exact: the worker stores the chunk's first id in the running word before it runs
// anything of the chunk, and from then on it is always running the item the done word names. So
// after the death the parent reads the done word: the items before it are complete (their
// results are in the block), the item it names was running (it fails, or is retried), and the
// rest go to another worker. A death before the running word names the chunk loses nothing.
//
// Bulk chunks are used only without TaskTimeout and MaxMemoryPerChild, whose per-item checks
// they do not make; other pools and other types take the message-per-item path.

// bulkBytes is the size of a bulk chunk's block by default (arguments and results): large enough
// that a chunk costs little beside its items, small enough that the blocks in flight stay in the
// cache and their pages, reused, are not faulted in again.
var bulkBytes = 1 << 22

var bulkKind = shm.RegisterKind("pool.bulk", func(r shm.Ref) (any, error) {
	return nil, fmt.Errorf("%w: a pool.bulk block is internal to a Pool", shm.ErrBadRef)
})

// A bulkFunc runs items [i, n) of a chunk whose n arguments are args and whose results go to res
// (both raw arrays), storing first+k+1 into *done after item k's result is written. It stops at
// an item whose function returns an error, and returns that item's index and the error; n and
// nil when every item ran.
type bulkFunc func(args, res []byte, i, n int, done *uint64, first uint64) (int, error)

// bulkOf returns fn's bulkFunc and the sizes of A and R, or nil when they are not raw types a bulk
// chunk can carry: no pointer, fixed size, not empty, and no bool (a bool's byte from another
// process would have to be checked; such types take the per-item path, which checks it).
func bulkOf[A, R any](fn func(A) (R, error)) (bulkFunc, int, int) {
	ac, rc := codec.For[A](), codec.For[R]()
	if !ac.Raw() || !rc.Raw() || ac.Size() == 0 || rc.Size() == 0 ||
		hasBool(reflect.TypeFor[A]()) || hasBool(reflect.TypeFor[R]()) {
		return nil, 0, 0
	}
	run := func(args, res []byte, i, n int, done *uint64, first uint64) (int, error) {
		as := unsafe.Slice((*A)(unsafe.Pointer(unsafe.SliceData(args))), n)
		rs := unsafe.Slice((*R)(unsafe.Pointer(unsafe.SliceData(res))), n)
		for ; i < n; i++ {
			r, err := fn(as[i])
			if err != nil {
				return i, err
			}
			rs[i] = r
			storeDone(done, first+uint64(i)+1)
		}
		return n, nil
	}
	return run, ac.Size(), rc.Size()
}

// storeDone publishes that every item before id is complete. The parent reads the word with an
// atomic load, after the worker's death (which orders everything) or never: an atomic store per
// item would cost more than the tiny items bulk chunks are for, and Go keeps stores in program
// order, as amd64 does; elsewhere the store is atomic.
func storeDone(done *uint64, id uint64) {
	if runtime.GOARCH == "amd64" {
		*done = id
		return
	}
	atomic.StoreUint64(done, id)
}

func hasBool(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool:
		return true
	case reflect.Array:
		return hasBool(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasBool(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// bulkLayout returns where the results of a bulk chunk of n items start in its block, and the
// block's size. The results start on a 64-byte boundary (the block's payload does too), so that
// both arrays are aligned for any raw type.
func bulkLayout(n, asz, rsz int) (resOff, size int) {
	resOff = (n*asz + 63) &^ 63
	return resOff, resOff + n*rsz
}

// rawBytes views a slice of a raw type as its bytes, without copying.
func rawBytes[T any](xs []T) []byte {
	if len(xs) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xs))), len(xs)*int(unsafe.Sizeof(xs[0])))
}

// A bulk chunk message, parent to worker: msgBulk, first id u64, count u32, name length u16, the
// function's name, then the block's Ref (CBOR). Result messages for a bulk chunk: resErr, resPanic
// for a failed item, and at the end
//
//	bulk done: 6, the id after the chunk's last u64
const (
	msgBulk = 3
	resBulk = 6
)

// sealBulk builds c's message, naming its block, for the ids from first on.
func (c *chunk) sealBulk(first uint64, ref shm.Ref) ([]byte, error) {
	b, err := codec.Marshal(ref)
	if err != nil {
		return nil, err
	}
	m := make([]byte, chunkHeader, chunkHeader+len(c.name)+len(b))
	c.first, c.done = first, 0
	m[0] = msgBulk
	binary.LittleEndian.PutUint64(m[1:9], first)
	binary.LittleEndian.PutUint32(m[9:13], uint32(c.n))
	binary.LittleEndian.PutUint16(m[13:15], uint16(len(c.name)))
	m = append(m, c.name...)
	return append(m, b...), nil
}

// A parsedBulk is a bulk chunk message taken apart.
type parsedBulk struct {
	first uint64
	name  string
	count int
	ref   shm.Ref
}

// parseBulk validates a bulk chunk message, which comes from another process.
func parseBulk(m []byte) (parsedBulk, error) {
	var c parsedBulk
	if len(m) < chunkHeader || m[0] != msgBulk {
		return c, fmt.Errorf("%w: bulk task message of %d bytes", ErrCorrupt, len(m))
	}
	c.first = binary.LittleEndian.Uint64(m[1:9])
	c.count = int(binary.LittleEndian.Uint32(m[9:13]))
	nl := int(binary.LittleEndian.Uint16(m[13:15]))
	m = m[chunkHeader:]
	if nl > len(m) {
		return c, fmt.Errorf("%w: bulk chunk name of %d bytes in %d", ErrCorrupt, nl, len(m))
	}
	c.name = string(m[:nl])
	if err := codec.Unmarshal(m[nl:], &c.ref); err != nil {
		return c, fmt.Errorf("%w: bulk chunk block: %v", ErrCorrupt, err)
	}
	return c, nil
}

// runBulkChunk runs a bulk chunk in a worker, whose line of the state block is ln. Each failed
// item's error goes to put before the done word passes it; it returns put's error or a broken
// chunk's.
func runBulkChunk(m []byte, names map[string]*entry, ln *slotLine, put func([]byte) error) error {
	c, err := parseBulk(m)
	if err != nil {
		return err
	}
	e := entryFor(names, c.name)
	ln.begin(c.name)
	running, done := ln.running, ln.done
	_, b, err := shm.Resolve(c.ref, bulkKind)
	if err != nil {
		return fmt.Errorf("%w: bulk chunk block: %v", ErrCorrupt, err)
	}
	asz, rsz := max(e.asz, 1), max(e.rsz, 1)
	if c.count < 0 || c.count > len(b)/asz {
		return fmt.Errorf("%w: bulk chunk of %d items in %d bytes", ErrCorrupt, c.count, len(b))
	}
	resOff, size := bulkLayout(c.count, asz, rsz)
	if size > len(b) {
		return fmt.Errorf("%w: bulk chunk of %d items needs %d bytes, its block has %d", ErrCorrupt, c.count, size, len(b))
	}
	if testHookTaken != nil {
		testHookTaken()
	}
	args, res := b[:c.count*asz:c.count*asz], b[resOff:size:size]
	atomic.StoreUint64(running, c.first) // from here on, the item the done word names is running
	atomic.StoreUint64(done, c.first)
	var out []byte
	for i := 0; i < c.count; {
		var err error
		i, out, err = runBulkFrom(e, args, res, i, c.count, done, c.first, out[:0])
		if err != nil {
			return err
		}
		if i < c.count {
			// Item i failed: its error goes out first, then the done word passes it.
			if err := put(out); err != nil {
				return err
			}
			i++
			atomic.StoreUint64(done, c.first+uint64(i))
		}
	}
	atomic.StoreUint64(done, c.first+uint64(c.count))
	return put(binary.LittleEndian.AppendUint64(append(out[:0], resBulk), c.first+uint64(c.count)))
}

// runBulkFrom runs items from i on and returns the index of the first that failed, with its
// error message in out, or count. A panic is recovered here; the done word says which item it
// came from.
func runBulkFrom(e *entry, args, res []byte, i, count int, done *uint64, first uint64, out []byte) (stop int, msg []byte, err error) {
	if e.bulk == nil { // not registered in this worker: every item fails
		return i, runItem(e, first+uint64(i), nil, out, 0), nil
	}
	defer func() {
		if r := recover(); r != nil {
			stop = int(atomic.LoadUint64(done) - first)
			if stop < i || stop >= count {
				stop, msg, err = count, nil, fmt.Errorf("pool worker: a panic outside the items of a bulk chunk: %v", r)
				return
			}
			s := fmt.Sprint(r)
			msg = append(out[:0], resPanic)
			msg = binary.LittleEndian.AppendUint64(msg, first+uint64(stop))
			msg = binary.LittleEndian.AppendUint32(msg, uint32(len(s)))
			msg = append(msg, s...)
			msg = append(msg, debug.Stack()...)
		}
	}()
	stop, ferr := e.bulk(args, res, i, count, done, first)
	if ferr != nil {
		msg = append(out[:0], resErr)
		msg = binary.LittleEndian.AppendUint64(msg, first+uint64(stop))
		msg = append(msg, ferr.Error()...)
	}
	return stop, msg, nil
}

// A rawSink takes a bulk chunk's results as they lie in its block.
type rawSink interface {
	deliverRaw(idx, n int, b []byte)
}

// placeBulk puts c's arguments into a new block and returns its message, for the ids from first
// on. The block is c's until settleBulk or freeBulk.
func (p *Pool) placeBulk(c *chunk, first uint64) ([]byte, error) {
	_, size := bulkLayout(c.n, c.asz, c.rsz)
	ref, err := shm.Alloc(size, bulkKind)
	if err != nil {
		return nil, err
	}
	_, mem, err := shm.Resolve(ref, bulkKind)
	if err != nil || len(mem) < size {
		shm.Free(ref)
		return nil, fmt.Errorf("pool: bulk block: %v", err)
	}
	copy(mem, c.raw)
	c.block, c.mem, c.errs = ref, mem, nil
	return c.sealBulk(first, ref)
}

// freeBulk frees c's block, if it has one.
func (p *Pool) freeBulk(c *chunk) {
	p.mu.Lock()
	p.freeBulkLocked(c)
	p.mu.Unlock()
}

// freeBulkLocked is freeBulk with p.mu held.
func (p *Pool) freeBulkLocked(c *chunk) {
	if c.mem == nil {
		return
	}
	if err := shm.Free(c.block); err != nil {
		p.freeErrs = append(p.freeErrs, fmt.Errorf("pool: free a bulk block: %w", err))
	}
	c.block, c.mem = shm.Ref{}, nil
}

// settleBulk delivers the results of c's items before upto, but those that failed (delivered
// already), and frees c's block. Every failed item is before upto. The caller counted them in
// p.done, with p.mu held, when c left its worker (countBulkLocked), so that Progress never
// misses them.
func (p *Pool) settleBulk(c *chunk, upto int) {
	rs := c.s.(rawSink)
	resOff, _ := bulkLayout(c.n, c.asz, c.rsz)
	give := func(a, b int) {
		if b > a {
			rs.deliverRaw(c.index+a, b-a, c.mem[resOff+a*c.rsz:resOff+b*c.rsz])
		}
	}
	from := 0
	for _, k := range c.errs {
		give(from, k)
		from = k + 1
	}
	give(from, upto)
	p.freeBulk(c)
}

// bulkDone returns, after the death of the worker that held c, how many of c's items are settled
// (complete, or failed with a message), from the slot's running and done words; -1 if the worker
// had not started c. The words come from the dead worker: they are checked, never trusted.
func bulkDone(c *chunk, running, done uint64) int {
	if running != c.first && len(c.errs) == 0 {
		return -1
	}
	n := 0
	if done >= c.first && done <= c.first+uint64(c.n) {
		n = int(done - c.first)
	}
	if len(c.errs) > 0 {
		// Killed between sending an item's error and passing it: it is settled.
		n = max(n, c.errs[len(c.errs)-1]+1)
	}
	return n
}

// onBulkMessage handles a message from w about c, its first chunk, a bulk one; p.mu is held and
// is released here. It reports whether the message was valid.
func (p *Pool) onBulkMessage(w *workerState, c *chunk, m []byte, id uint64) bool {
	switch m[0] {
	case resBulk:
		if id != c.first+uint64(c.n) {
			break
		}
		w.out[0] = nil
		w.out = w.out[1:]
		p.countBulkLocked(c, c.n)
		p.dispatchLocked()
		p.mu.Unlock()
		p.settleBulk(c, c.n)
		return true
	case resErr, resPanic:
		next := uint64(0)
		if len(c.errs) > 0 {
			next = uint64(c.errs[len(c.errs)-1] + 1)
		}
		if id < c.first+next || id >= c.first+uint64(c.n) {
			break
		}
		k := int(id - c.first)
		c.errs = append(c.errs, k)
		p.mu.Unlock()
		_, err := parseResult(m, c.index+k, w.pid)
		p.deliver(c.s, c.index+k, nil, err)
		return !errors.Is(err, ErrCorrupt)
	}
	p.mu.Unlock()
	return false
}

// A bulkSettle is a bulk chunk of a dead worker and how many of its items are settled.
type bulkSettle struct {
	c    *chunk
	upto int
}

// countBulkLocked counts in p.done the items of c before upto that did not fail.
func (p *Pool) countBulkLocked(c *chunk, upto int) {
	p.done.Add(int64(upto - failedBefore(c, upto)))
}

// failedBefore is how many of c's failed items are before upto.
func failedBefore(c *chunk, upto int) int {
	n := 0
	for _, k := range c.errs {
		if k < upto {
			n++
		}
	}
	return n
}

// bulkRunningLocked counts the items that the workers have completed in the bulk chunks they hold
// and the pool has not counted yet: from the words the workers advance as they go.
func (p *Pool) bulkRunningLocked() int64 {
	var n int64
	for _, w := range p.workers {
		if w == nil {
			continue
		}
		running := atomic.LoadUint64(shm.Word64(p.words, slotBytes*w.line))
		done := atomic.LoadUint64(shm.Word64(p.words, slotBytes*w.line+lineDone))
		for _, c := range w.out {
			if c.bulk && c.mem != nil {
				k := bulkProgress(c, running, done)
				n += int64(k - failedBefore(c, k))
			}
		}
	}
	return n
}

// bulkProgress returns how many of c's items are complete, from its worker's running and done
// words, read as the worker goes: all of them once the worker runs an item of a later chunk (ids
// only grow) even before the pool has read the chunk's last message, the done word's count while
// it runs c, none before. Words outside c's range count nothing: they are a peer's, checked.
func bulkProgress(c *chunk, running, done uint64) int {
	switch {
	case running >= c.first+uint64(c.n):
		return c.n
	case running == c.first && done > c.first && done <= c.first+uint64(c.n):
		return int(done - c.first)
	}
	return 0
}
