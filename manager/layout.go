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
// in one heap, plus one lock.Lock block per stripe. All words are little-endian and naturally
// aligned.
//
// Header (128 bytes, then one 128-byte record per stripe):
//
//	offset size field
//	     0    8 magic "SHMKMGR\x02" (stored last at creation: it publishes the rest)
//	     8    4 stripes: how many writer stripes (a power of two: 16 for a Dict, 1 for a List)
//	    12    4 reserved (0)
//	    16    8 table: the current table's word (see "Words")
//	    24   40 reserved (0): the first cache line holds what every read loads, and nothing else
//	    64    8 used: live entries plus tombstones in the table (a Dict's load), never less
//	    72    4 gen: the change counter, +1 after each write while a watch exists; futex word of Watch
//	    76    4 watchers: how many watching goroutines may be parked on gen
//	    80    8 pending: a table being built by a grow, clear or list rebuild (0: none)
//	    88    8 retired: the table a grow, clear or rebuild replaced, being freed (0: none)
//	    96    4 retired kind: retireTable (free the table only) or retireAll (entries too)
//	   100    4 key type hash (FNV-1a of the Go type's name)
//	   104    4 value type hash
//	   108    4 form: formDict or formList
//	   112    4 the kind of the lock blocks (lock.Lock)
//	   116   12 reserved (0)
//
// Stripe record i, at 128 + 128*i (a Dict's key of hash h belongs to stripe h >> (64 - log2
// stripes); a List has one stripe, which every write takes):
//
//	offset size field
//	     0    8 the stripe's lock.Lock block, as a word
//	     8    4 seq: odd while a write holding this stripe is in progress
//	    12    4 reserved (0)
//	    16    8 log: table word the logged write works in
//	    24    8 log: slot index of the logged write
//	    32    8 log: the entry word the write replaces or removes (0: none)
//	    40    8 log: the entry word the write publishes (0: none; a Dict's Delete: tombstone)
//	    48    8 count: live entries whose keys belong to the stripe (a Dict's Len is their sum)
//	    56   72 reserved (0)
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
	hStripes = 8
	hTable   = 16
	hUsed    = 64
	hGen     = 72
	hWatch   = 76
	hPending = 80
	hRetired = 88
	hRetKind = 96
	hKType   = 100
	hVType   = 104
	hForm    = 108
	hLockKnd = 112

	baseSize   = 128
	stripeSize = 128
	magic      = 0x0252_474d_4b4d_4853 // "SHMKMGR\x02" read as little-endian

	sLock    = 0
	sSeq     = 8
	sLogTab  = 16
	sLogSlot = 24
	sLogOld  = 32
	sLogNew  = 40
	sCount   = 48

	// dictStripes is how many writer stripes a Dict has: writers of keys in different stripes
	// run at once. A table holds at least 4 slots per stripe (minTable), so that the inserts
	// in flight in every stripe at once always find a free slot (see put).
	dictStripes = 16
	maxStripes  = 64

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

// A stripe is the process-local view of one stripe record: its lock, sequence, log and count.
// Writers of a Dict's keys that belong to different stripes hold different locks and run at
// once; a table operation (grow, Clear, Free) takes every stripe, in order.
type stripe struct {
	lk                              *lock.Lock
	seq                             *uint32
	logTab, logSlot, logOld, logNew *uint64
	count                           *uint64
}

// core is the process-local handle of one header block: what Dict, List and Namespace share.
type core struct {
	seg   *shm.Segment
	heap  *shm.Heap
	mem   []byte
	ref   shm.Ref
	hdr   []byte
	dict  bool
	st    []stripe
	shift uint // a key of hash h belongs to stripe h >> shift
	tab   atomic.Pointer[table]
	gate  park.Gate // this handle's watchers park on gen through it

	wTable, wUsed      *uint64
	wGen, wWatch       *uint32
	wPending, wRetired *uint64
	wRetKind           *uint32
}

func (c *core) views(b []byte, n int) {
	c.hdr = b
	c.wTable = shm.Word64(b, hTable)
	c.wUsed = shm.Word64(b, hUsed)
	c.wPending = shm.Word64(b, hPending)
	c.wRetired = shm.Word64(b, hRetired)
	c.wGen = shm.Word32(b, hGen)
	c.wWatch = shm.Word32(b, hWatch)
	c.wRetKind = shm.Word32(b, hRetKind)
	c.st = make([]stripe, n)
	c.shift = 64 - uint(bits.TrailingZeros(uint(n)))
	for i := range c.st {
		o := baseSize + i*stripeSize
		c.st[i] = stripe{seq: shm.Word32(b, o+sSeq), logTab: shm.Word64(b, o+sLogTab),
			logSlot: shm.Word64(b, o+sLogSlot), logOld: shm.Word64(b, o+sLogOld),
			logNew: shm.Word64(b, o+sLogNew), count: shm.Word64(b, o+sCount)}
	}
}

// minTable is the least table capacity: 4 slots per stripe for a Dict (see dictStripes).
func (c *core) minTable() uint64 {
	if !c.dict {
		return minCap
	}
	return max(minCap, 4*uint64(len(c.st)))
}

// stripeOf returns the stripe a key of hash h belongs to (the top bits: the slot takes the low).
func (c *core) stripeOf(h uint64) *stripe {
	if c.shift >= 64 {
		return &c.st[0]
	}
	return &c.st[h>>c.shift]
}

// newCore allocates a header, its stripes' locks and an empty table in heap h.
func newCore(h *shm.Heap, kind shm.Kind, form uint32, ktype, vtype string) (*core, error) {
	n := 1
	if form == formDict {
		n = dictStripes
	}
	return newStriped(h, kind, form, ktype, vtype, n)
}

// newStriped is newCore with n stripes (a power of two; tests compare stripe counts).
func newStriped(h *shm.Heap, kind shm.Kind, form uint32, ktype, vtype string, n int) (*core, error) {
	if h == nil {
		return nil, errors.New("manager: nil heap")
	}
	seg := h.Segment()
	if seg.Size() > shm.MaxSize {
		return nil, fmt.Errorf("%w: segment of %d bytes", ErrUnsupported, seg.Size())
	}
	ref, err := h.Alloc(baseSize+n*stripeSize, kind)
	if err != nil {
		return nil, fmt.Errorf("manager: allocate header: %w", err)
	}
	b, err := seg.Object(ref)
	if err != nil {
		return nil, errors.Join(err, h.Free(ref))
	}
	c := &core{seg: seg, heap: h, mem: seg.Bytes(), ref: ref, dict: form == formDict}
	c.views(b, n)
	undo := func(err error) error {
		for _, x := range c.st {
			if x.lk != nil {
				err = errors.Join(err, x.lk.Free())
			}
		}
		return errors.Join(err, h.Free(ref))
	}
	var lkind shm.Kind
	for i := range c.st {
		lk, err := lock.NewLock(lock.In(h))
		if err != nil {
			return nil, undo(fmt.Errorf("manager: new lock: %w", err))
		}
		c.st[i].lk = lk
		lkind = lk.Ref().Kind
		atomic.StoreUint64(shm.Word64(b, baseSize+i*stripeSize+sLock), wordOf(lk.Ref()))
	}
	t, err := c.allocTable(c.minTable())
	if err != nil {
		return nil, undo(err)
	}
	atomic.StoreUint32(shm.Word32(b, hStripes), uint32(n))
	atomic.StoreUint32(shm.Word32(b, hLockKnd), uint32(lkind))
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
	if len(b) < baseSize {
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
	n := int(atomic.LoadUint32(shm.Word32(b, hStripes)))
	if n < 1 || n > maxStripes || n&(n-1) != 0 || len(b) < baseSize+n*stripeSize || (form == formList && n != 1) {
		return nil, corrupt("header of %d bytes claims %d stripes", len(b), n)
	}
	h, err := seg.Heap()
	if err != nil {
		return nil, err
	}
	c := &core{seg: seg, heap: h, mem: seg.Bytes(), ref: ref, dict: form == formDict}
	c.views(b, n)
	lkind := shm.Kind(atomic.LoadUint32(shm.Word32(b, hLockKnd)))
	for i := range c.st {
		lr := refOf(seg, atomic.LoadUint64(shm.Word64(b, baseSize+i*stripeSize+sLock)), lkind)
		if c.st[i].lk, err = lock.OpenLock(lr); err != nil {
			return nil, fmt.Errorf("manager: open lock: %w", err)
		}
	}
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

// nextPow2 returns the least power of two >= n (and >= lo, a power of two).
func nextPow2(n, lo uint64) uint64 {
	if n <= lo {
		return lo
	}
	return 1 << bits.Len64(n-1)
}

// listLen returns a List table's length word.
func listLen(t *table) uint64 { return atomic.LoadUint64(shm.Word64(t.b, tabLen)) }
