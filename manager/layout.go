package manager

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/park"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// Every Dict, List and Namespace is a header block (kind "manager.Dict" or "manager.List"), a
// table block (kind "manager.table") and one entry block per element (kind "manager.entry"), all
// in one heap. All words are little-endian and naturally aligned.
//
// Header (128 bytes):
//
//	offset size field
//	     0    8 magic "SHMKMGR\x01" (stored last at creation: it publishes the rest)
//	     8    4 lock: payload offset of the lock.Lock block, divided by 64
//	    12    4 lock: its block's generation
//	    16    8 table: the current table's word (see "Words")
//	    24    8 count: live entries (a Dict's Len; a List keeps its length in the table)
//	    32    8 used: live entries plus tombstones in the table (a Dict's load)
//	    40    4 seq: the change sequence, odd while a write is in progress; futex word of Watch
//	    44    4 watchers: how many watching goroutines may be parked on seq
//	    48    8 log: table word the logged write works in
//	    56    8 log: slot index of the logged write
//	    64    8 log: the entry word the write replaces or removes (0: none)
//	    72    8 log: the entry word the write publishes (0: none)
//	    80    8 pending: a table being built by a grow, clear or list rebuild (0: none)
//	    88    8 retired: the table a grow, clear or rebuild replaced, being freed (0: none)
//	    96    4 retired kind: retireTable (free the table only) or retireAll (entries too)
//	   100    4 key type hash (FNV-1a of the Go type's name)
//	   104    4 value type hash
//	   108    4 form: formDict or formList
//	   112    4 the kind of the lock block (lock.Lock)
//	   116   12 reserved (0)
//
// Table: word 0 capacity (slots, a power of two for a Dict), word 1 a List's length, then from
// byte 64 the slots, one 64-bit word each.
//
// Entry: word 0 the key's hash, then the key's length and the value's length (32 bits each), then
// the key bytes and the value bytes. An entry is written whole before its word is published and
// never changes afterwards (copy-on-write): replacing a value publishes a new entry.
//
// Words: a block is named by one 64-bit word, its payload offset divided by 64 in the high 32
// bits and its allocation generation in the low 32 bits; 0 is an empty slot and 1 (offset 0) a
// Dict's tombstone. Because the generation is in the word, a block freed and allocated again gets
// a different word, so "the word did not change" means "the block was not freed" for readers that
// validate after reading.
const (
	hMagic   = 0
	hLock    = 8
	hLockGen = 12
	hTable   = 16
	hCount   = 24
	hUsed    = 32
	hSeq     = 40
	hWatch   = 44
	hLogTab  = 48
	hLogSlot = 56
	hLogOld  = 64
	hLogNew  = 72
	hPending = 80
	hRetired = 88
	hRetKind = 96
	hKType   = 100
	hVType   = 104
	hForm    = 108
	hLockKnd = 112

	headerSize = 128
	magic      = 0x0152_474d_4b4d_4853 // "SHMKMGR\x01" read as little-endian

	formDict = 1
	formList = 2

	retireTable = 1
	retireAll   = 2

	tabCap   = 0
	tabLen   = 8
	tabSlots = 64

	entHash   = 0
	entKLen   = 8
	entVLen   = 12
	entHeader = 16

	tomb = 1

	minCap = 8
)

var (
	dictKind  = shm.RegisterKind("manager.Dict", func(r shm.Ref) (any, error) { return openAny(r) })
	tableKind = shm.RegisterKind("manager.table", func(r shm.Ref) (any, error) {
		return nil, fmt.Errorf("%w: a manager table is not an object of its own", shm.ErrBadRef)
	})
	entryKind = shm.RegisterKind("manager.entry", func(r shm.Ref) (any, error) {
		return nil, fmt.Errorf("%w: a manager entry is not an object of its own", shm.ErrBadRef)
	})
)

// wordOf packs a block's Ref into a word.
func wordOf(r shm.Ref) uint64 { return r.Off/64<<32 | uint64(r.Gen) }

// refOf unpacks a word into a Ref of the given kind in segment s.
func refOf(s *shm.Segment, w uint64, k shm.Kind) shm.Ref {
	return shm.Ref{Seg: s.ID(), Name: s.Name(), Off: (w >> 32) * 64, Kind: k, Gen: uint32(w)}
}

// typeHash names a Go type in the header, so that opening a Dict[string, int] as a
// Dict[int, int] is refused.
func typeHash(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return h
}

// hashKey hashes an encoded key. Every process must compute the same hash, so it takes no
// per-process seed; the final mix spreads the low bits, which pick the slot.
func hashKey(b []byte) uint64 {
	h := uint64(len(b)) * 0x9e3779b97f4a7c15
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0xff51afd7ed558ccd
		h ^= h >> 29
		b = b[8:]
	}
	var t uint64
	for i := len(b) - 1; i >= 0; i-- {
		t = t<<8 | uint64(b[i])
	}
	h ^= t
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// table is a process-local view of one table block, cached by its word.
type table struct {
	word  uint64
	b     []byte
	slots []uint64
}

// core is the process-local handle of one header block: what Dict, List and Namespace share.
type core struct {
	seg  *shm.Segment
	heap *shm.Heap
	mem  []byte
	ref  shm.Ref
	hdr  []byte
	lk   *lock.Lock
	tab  atomic.Pointer[table]
	gate park.Gate // this handle's watchers park on seq through it

	wTable, wCount, wUsed               *uint64
	wSeq, wWatch                        *uint32
	wLogTab, wLogSlot, wLogOld, wLogNew *uint64
	wPending, wRetired                  *uint64
	wRetKind                            *uint32
}

func (c *core) views(b []byte) {
	c.hdr = b
	for _, f := range []struct {
		p   **uint64
		off int
	}{{&c.wTable, hTable}, {&c.wCount, hCount}, {&c.wUsed, hUsed}, {&c.wLogTab, hLogTab},
		{&c.wLogSlot, hLogSlot}, {&c.wLogOld, hLogOld}, {&c.wLogNew, hLogNew},
		{&c.wPending, hPending}, {&c.wRetired, hRetired}} {
		*f.p = shm.Word64(b, f.off)
	}
	c.wSeq = shm.Word32(b, hSeq)
	c.wWatch = shm.Word32(b, hWatch)
	c.wRetKind = shm.Word32(b, hRetKind)
}

// newCore allocates a header, its lock and an empty table in heap h.
func newCore(h *shm.Heap, kind shm.Kind, form uint32, ktype, vtype string) (*core, error) {
	if h == nil {
		return nil, errors.New("manager: nil heap")
	}
	seg := h.Segment()
	if seg.Size() > shm.MaxSize {
		return nil, fmt.Errorf("%w: segment of %d bytes", ErrUnsupported, seg.Size())
	}
	ref, err := h.Alloc(headerSize, kind)
	if err != nil {
		return nil, fmt.Errorf("manager: allocate header: %w", err)
	}
	b, err := seg.Object(ref)
	if err != nil {
		return nil, errors.Join(err, h.Free(ref))
	}
	lk, err := lock.NewLock(lock.In(h))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("manager: new lock: %w", err), h.Free(ref))
	}
	c := &core{seg: seg, heap: h, mem: seg.Bytes(), ref: ref, lk: lk}
	c.views(b)
	t, err := c.allocTable(minCap)
	if err != nil {
		return nil, errors.Join(err, lk.Free(), h.Free(ref))
	}
	lr := lk.Ref()
	atomic.StoreUint32(shm.Word32(b, hLock), uint32(lr.Off/64))
	atomic.StoreUint32(shm.Word32(b, hLockGen), lr.Gen)
	atomic.StoreUint32(shm.Word32(b, hLockKnd), uint32(lr.Kind))
	atomic.StoreUint64(c.wTable, t.word)
	atomic.StoreUint32(shm.Word32(b, hKType), typeHash(ktype))
	atomic.StoreUint32(shm.Word32(b, hVType), typeHash(vtype))
	atomic.StoreUint32(shm.Word32(b, hForm), form)
	// The magic publishes the header to every process that validates it afterwards.
	atomic.StoreUint64(shm.Word64(b, hMagic), magic)
	c.tab.Store(t)
	return c, nil
}

// openCore validates the header that ref names and returns its handle.
func openCore(ref shm.Ref, kind shm.Kind, form uint32, ktype, vtype string) (*core, error) {
	seg, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return nil, fmt.Errorf("manager: open %v: %w", kind, err)
	}
	if len(b) < headerSize {
		return nil, corrupt("header of %d bytes", len(b))
	}
	if m := atomic.LoadUint64(shm.Word64(b, hMagic)); m != magic {
		return nil, corrupt("header magic %#x", m)
	}
	if f := atomic.LoadUint32(shm.Word32(b, hForm)); f != form {
		return nil, corrupt("header form %d, want %d", f, form)
	}
	if k, v := atomic.LoadUint32(shm.Word32(b, hKType)), atomic.LoadUint32(shm.Word32(b, hVType)); k != typeHash(ktype) || v != typeHash(vtype) {
		return nil, fmt.Errorf("%w: %v was not made for [%s, %s]", ErrMismatch, ref, ktype, vtype)
	}
	h, err := seg.Heap()
	if err != nil {
		return nil, err
	}
	lr := shm.Ref{Seg: seg.ID(), Name: seg.Name(), Off: uint64(atomic.LoadUint32(shm.Word32(b, hLock))) * 64,
		Gen: atomic.LoadUint32(shm.Word32(b, hLockGen)), Kind: shm.Kind(atomic.LoadUint32(shm.Word32(b, hLockKnd)))}
	lk, err := lock.OpenLock(lr)
	if err != nil {
		return nil, fmt.Errorf("manager: open lock: %w", err)
	}
	c := &core{seg: seg, heap: h, mem: seg.Bytes(), ref: ref, lk: lk}
	c.views(b)
	return c, nil
}

// allocTable allocates a table of n slots (all empty).
func (c *core) allocTable(n uint64) (*table, error) {
	if n > (shm.MaxAlloc-tabSlots)/8 {
		return nil, fmt.Errorf("%w: table of %d slots", shm.ErrNoSpace, n)
	}
	r, err := c.heap.Alloc(tabSlots+int(n)*8, tableKind)
	if err != nil {
		return nil, fmt.Errorf("manager: allocate table of %d slots: %w", n, err)
	}
	b, err := c.seg.Object(r)
	if err != nil {
		return nil, errors.Join(err, c.heap.Free(r))
	}
	atomic.StoreUint64(shm.Word64(b, tabCap), n)
	return &table{word: wordOf(r), b: b, slots: unsafe.Slice((*uint64)(unsafe.Pointer(&b[tabSlots])), n)}, nil
}

// tableAt validates the table that word w names.
func (c *core) tableAt(w uint64, dict bool) (*table, error) {
	b, err := c.seg.Object(refOf(c.seg, w, tableKind))
	if err != nil {
		return nil, corrupt("table word %#x: %v", w, err)
	}
	if len(b) < tabSlots {
		return nil, corrupt("table of %d bytes", len(b))
	}
	n := atomic.LoadUint64(shm.Word64(b, tabCap))
	if n == 0 || n > uint64(len(b)-tabSlots)/8 || (dict && n&(n-1) != 0) {
		return nil, corrupt("table of %d bytes claims %d slots", len(b), n)
	}
	return &table{word: w, b: b, slots: unsafe.Slice((*uint64)(unsafe.Pointer(&b[tabSlots])), n)}, nil
}

// current returns the current table and its word, through the per-handle cache. The table is
// live for as long as the header's table word still equals its word.
func (c *core) current(dict bool) (*table, error) {
	w := atomic.LoadUint64(c.wTable)
	if t := c.tab.Load(); t != nil && t.word == w {
		return t, nil
	}
	t, err := c.tableAt(w, dict)
	if err != nil {
		return nil, err
	}
	c.tab.Store(t)
	return t, nil
}

// entry is a bounds-checked view of an entry block in shared memory.
type entry struct {
	hash     uint64
	key, val []byte
}

// entryAt returns a view of the entry that word w names, checking only that it lies inside the
// segment: a reader validates what it read by re-reading the word afterwards. ok is false when the
// word cannot name an entry.
func (c *core) entryAt(w uint64) (e entry, ok bool) {
	off := (w >> 32) * 64
	n := uint64(len(c.mem))
	if off < shm.HeaderSize+64 || off > n-entHeader {
		return entry{}, false
	}
	e.hash = atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.mem[off+entHash])))
	kl := uint64(atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.mem[off+entKLen]))))
	vl := uint64(atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.mem[off+entVLen]))))
	start := off + entHeader
	if kl+vl > n-start {
		return entry{}, false
	}
	e.key = c.mem[start : start+kl : start+kl]
	e.val = c.mem[start+kl : start+kl+vl : start+kl+vl]
	return e, true
}

// newEntry allocates and fills an entry; it is not reachable until its word is published.
func (c *core) newEntry(h uint64, key, val []byte) (uint64, error) {
	n := entHeader + len(key) + len(val)
	if len(key) > 1<<31 || len(val) > 1<<31 || n > shm.MaxAlloc {
		return 0, fmt.Errorf("%w: %d-byte key, %d-byte value", ErrTooLarge, len(key), len(val))
	}
	r, err := c.heap.Alloc(n, entryKind)
	if err != nil {
		return 0, fmt.Errorf("manager: allocate entry: %w", err)
	}
	b, err := c.seg.Object(r)
	if err != nil {
		return 0, errors.Join(err, c.heap.Free(r))
	}
	binary.LittleEndian.PutUint64(b[entHash:], h)
	binary.LittleEndian.PutUint32(b[entKLen:], uint32(len(key)))
	binary.LittleEndian.PutUint32(b[entVLen:], uint32(len(val)))
	copy(b[entHeader:], key)
	copy(b[entHeader+len(key):], val)
	return wordOf(r), nil
}

// freeEntry returns an entry block to the heap. A word that no longer names that allocation (the
// block was freed, or freed and allocated again: the generation differs) is refused by the heap,
// which is what makes the repair of a dead writer's log safe to run twice.
func (c *core) freeEntry(w uint64) error {
	if w <= tomb {
		return nil
	}
	return c.heap.Free(refOf(c.seg, w, entryKind))
}

func (c *core) freeTable(w uint64) error {
	if w == 0 {
		return nil
	}
	return c.heap.Free(refOf(c.seg, w, tableKind))
}

// nextPow2 returns the least power of two >= n (and >= minCap).
func nextPow2(n uint64) uint64 {
	if n <= minCap {
		return minCap
	}
	return 1 << bits.Len64(n-1)
}

// listLen returns a List table's length word.
func listLen(t *table) uint64 { return atomic.LoadUint64(shm.Word64(t.b, tabLen)) }
