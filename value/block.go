package value

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// Every Value and Array is one heap block whose payload starts with a 64-byte header, followed by
// the data section. All words are little-endian and naturally aligned.
//
//	offset size field
//	     0    8 magic "SHMKVAL\x01" (stored last at creation: it publishes the header)
//	     8    1 form: 1 Value, 2 Array
//	     9    1 typecode (ASCII, Python's array/struct code; 0: not a single number)
//	    10    1 flags: bit 0 has a lock, bit 1 double-buffered (a Value of more than 8 bytes)
//	    11    1 reserved (0)
//	    12    4 element size in bytes
//	    16    8 length in elements (1 for a Value)
//	    24    8 data offset, in bytes from the start of the segment (a multiple of 64)
//	    32    4 lock: payload offset of its lock.Lock block, divided by 64 (0: none)
//	    36    4 lock: its block's allocation generation (shm.Ref.Gen)
//	    40    4 the kind of the lock blocks (lock.Lock)
//	    44    4 write lock: payload offset of a second lock.Lock, divided by 64 (double-buffered
//	            Values only; 0: none)
//	    48    4 write lock: its block's allocation generation
//	    52    4 reserved (0)
//	    56    8 generation: the data slot in use is generation&1 (double-buffered Values only)
//	    64      data: an Array's elements (padded to a multiple of 8 bytes); a Value of at most 8 bytes in one 8-byte word; a
//	            double-buffered Value in two slots of the size rounded up to 8 bytes
//
// The header is written once, before the magic, and never changes; a process that opens the
// object validates it against the block and the segment and then keeps its own copy. Only the
// data section and the generation word change afterwards.
const (
	headerSize = 64

	hMagic    = 0
	hForm     = 8
	hCode     = 9
	hFlags    = 10
	hElemSize = 12
	hLen      = 16
	hData     = 24
	hLock     = 32
	hLockGen  = 36
	hLockKind = 40
	hWLock    = 44
	hWLockGen = 48
	hGen      = 56

	magic = 0x014c_4156_4b4d_4853 // "SHMKVAL\x01" read as a little-endian uint64

	formValue = 1
	formArray = 2

	flagLocked = 1 << 0
	flagDouble = 1 << 1
	knownFlags = flagLocked | flagDouble
)

// block is the process-local handle of one Value or Array: a validated view of its header and
// data section. Its fields never change after open; the memory they point into does.
type block struct {
	seg  *shm.Segment
	ref  shm.Ref
	ti   *typeInfo
	form byte
	code byte
	n    int    // length in elements
	data []byte // the data section
	lk   *lock.Lock
	wl   *lock.Lock // the write lock of a double-buffered Value
	gen  *uint64    // the generation word of a double-buffered Value
	slot int        // bytes per slot of a double-buffered Value
	w64  *uint64    // the word of a Value of at most 8 bytes

	named  *shm.Segment // the named segment this handle opened or created (one counted handle), nil otherwise
	closed atomic.Bool  // this handle's named segment was released
}

// dataBytes returns the size of the data section of a form of n elements of ti.
func dataBytes(ti *typeInfo, form byte, n int, double bool) (int, error) {
	switch {
	case form == formArray:
		if n < 0 || (n > 0 && ti.size > (shm.MaxAlloc-headerSize)/n) {
			return 0, fmt.Errorf("%w: %d elements of %d bytes", ErrLength, n, ti.size)
		}
		return roundUp8(n * ti.size), nil // padded: 1- and 2-byte elements are reached by 4-byte words
	case ti.word:
		return 8, nil
	case double:
		return 2 * roundUp8(ti.size), nil
	}
	return roundUp8(ti.size), nil
}

func roundUp8(n int) int { return (n + 7) &^ 7 }

// newBlock allocates and initialises a Value or Array in heap h, with its locks when locked. init
// fills the data section before the header is published.
func newBlock(h *shm.Heap, ti *typeInfo, kind shm.Kind, form, code byte, n int, locked bool, init func(*block)) (*block, error) {
	if ti.err != nil {
		return nil, ti.err
	}
	if h == nil {
		return nil, fmt.Errorf("value: nil heap")
	}
	double := form == formValue && locked && !ti.word
	nb, err := dataBytes(ti, form, n, double)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(headerSize+nb, kind)
	if err != nil {
		return nil, fmt.Errorf("value: allocate %d bytes: %w", headerSize+nb, err)
	}
	b, err := h.Segment().Object(ref)
	if err != nil {
		return nil, errors.Join(err, h.Free(ref))
	}
	blk := &block{seg: h.Segment(), ref: ref, ti: ti, form: form, code: code, n: n, data: b[headerSize:]}
	fail := func(err error) (*block, error) {
		return nil, errors.Join(err, blk.free())
	}
	var flags byte
	if locked {
		flags |= flagLocked
		if blk.lk, err = lock.NewLock(lock.In(h)); err != nil {
			return fail(err)
		}
		putLock(b, hLock, hLockGen, blk.lk.Ref())
	}
	if double {
		flags |= flagDouble
		if blk.wl, err = lock.NewLock(lock.In(h)); err != nil {
			return fail(err)
		}
		putLock(b, hWLock, hWLockGen, blk.wl.Ref())
	}
	// Bytes 8..11 form one 32-bit word: form, typecode, flags, reserved.
	atomic.StoreUint32(shm.Word32(b, hForm), uint32(form)|uint32(code)<<8|uint32(flags)<<16)
	atomic.StoreUint32(shm.Word32(b, hElemSize), uint32(ti.size))
	atomic.StoreUint64(shm.Word64(b, hLen), uint64(n))
	atomic.StoreUint64(shm.Word64(b, hData), ref.Off+headerSize)
	blk.views(b)
	if init != nil {
		init(blk)
	}
	// The magic publishes the header and the initial data to every process that validates the
	// block after it (sync/atomic operations are sequentially consistent; the pages are shared).
	atomic.StoreUint64(shm.Word64(b, hMagic), magic)
	return blk, nil
}

// putLock records a lock's Ref in the header words at hOff and hGen (and its kind).
func putLock(b []byte, hOff, hGen int, r shm.Ref) {
	atomic.StoreUint32(shm.Word32(b, hOff), uint32(r.Off/64)) // heap offsets are 64-aligned, < 2^37
	atomic.StoreUint32(shm.Word32(b, hGen), r.Gen)
	atomic.StoreUint32(shm.Word32(b, hLockKind), uint32(r.Kind))
}

// views sets the typed pointers into the data section; b is the whole payload.
func (blk *block) views(b []byte) {
	switch {
	case blk.form == formArray:
	case blk.ti.word:
		blk.w64 = shm.Word64(blk.data, 0)
	case blk.wl != nil:
		blk.gen = shm.Word64(b, hGen)
		blk.slot = roundUp8(blk.ti.size)
	}
}

// openBlock validates the block that ref names as a form of ti, with a lock when locked, and
// returns its handle. It never panics and never reads out of the block, whatever the header holds.
func openBlock(ref shm.Ref, ti *typeInfo, kind shm.Kind, form byte, locked bool) (*block, error) {
	if ti.err != nil {
		return nil, ti.err
	}
	seg, b, err := shm.Resolve(ref, kind)
	if err != nil {
		return nil, fmt.Errorf("value: open %v: %w", kind, err)
	}
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: block of %d bytes", ErrCorrupt, len(b))
	}
	if m := atomic.LoadUint64(shm.Word64(b, hMagic)); m != magic {
		return nil, fmt.Errorf("%w: magic %#x", ErrCorrupt, m)
	}
	w := atomic.LoadUint32(shm.Word32(b, hForm))
	gotForm, code, flags := byte(w), byte(w>>8), byte(w>>16)
	size := atomic.LoadUint32(shm.Word32(b, hElemSize))
	n := atomic.LoadUint64(shm.Word64(b, hLen))
	dataOff := atomic.LoadUint64(shm.Word64(b, hData))
	double := form == formValue && locked && !ti.word
	switch {
	case gotForm != form:
		return nil, fmt.Errorf("%w: form %d, want %d", ErrMismatch, gotForm, form)
	case flags&^knownFlags != 0 || w>>24 != 0:
		return nil, fmt.Errorf("%w: flags %#x", ErrCorrupt, flags)
	case (flags&flagLocked != 0) != locked:
		return nil, fmt.Errorf("%w: lock flag %v, want %v", ErrMismatch, flags&flagLocked != 0, locked)
	case (flags&flagDouble != 0) != double:
		return nil, fmt.Errorf("%w: double-buffer flag %v, want %v", ErrMismatch, flags&flagDouble != 0, double)
	case size != uint32(ti.size):
		return nil, fmt.Errorf("%w: element size %d, %v has %d", ErrMismatch, size, ti.t, ti.size)
	case form == formValue && n != 1:
		return nil, fmt.Errorf("%w: Value of length %d", ErrCorrupt, n)
	case n > math.MaxInt:
		return nil, fmt.Errorf("%w: length %d", ErrCorrupt, n)
	}
	if code != 0 {
		if err := codeFits(code, ti.t); err != nil {
			return nil, err
		}
	}
	nb, err := dataBytes(ti, form, int(n), double)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if dataOff%64 != 0 || dataOff < ref.Off+headerSize || dataOff-ref.Off > uint64(len(b)) ||
		uint64(nb) > uint64(len(b))-(dataOff-ref.Off) {
		return nil, fmt.Errorf("%w: %d data bytes at offset %d do not fit the %d-byte block at %d",
			ErrCorrupt, nb, dataOff, len(b), ref.Off)
	}
	start := int(dataOff - ref.Off)
	blk := &block{seg: seg, ref: ref, ti: ti, form: form, code: code, n: int(n), data: b[start : start+nb : start+nb]}
	if locked {
		kind := shm.Kind(atomic.LoadUint32(shm.Word32(b, hLockKind)))
		open := func(hOff, hGen int) (*lock.Lock, error) {
			return lock.OpenLock(shm.Ref{Seg: ref.Seg, Name: ref.Name, Kind: kind,
				Off: uint64(atomic.LoadUint32(shm.Word32(b, hOff))) * 64,
				Gen: atomic.LoadUint32(shm.Word32(b, hGen))})
		}
		if blk.lk, err = open(hLock, hLockGen); err != nil {
			return nil, fmt.Errorf("%w: its lock: %w", ErrCorrupt, err)
		}
		if double {
			if blk.wl, err = open(hWLock, hWLockGen); err != nil {
				return nil, fmt.Errorf("%w: its write lock: %w", ErrCorrupt, err)
			}
			if blk.wl.Ref() == blk.lk.Ref() {
				// Update holds both at once: one lock would deadlock on itself.
				return nil, fmt.Errorf("%w: its lock and write lock are the same", ErrCorrupt)
			}
		}
	}
	blk.views(b)
	return blk, nil
}

// free returns the block and its locks to their heap.
func (blk *block) free() error {
	h, err := blk.seg.Heap()
	if err != nil {
		return err
	}
	var errs []error
	if blk.lk != nil {
		errs = append(errs, blk.lk.Free())
	}
	if blk.wl != nil {
		errs = append(errs, blk.wl.Free())
	}
	errs = append(errs, h.Free(blk.ref))
	return errors.Join(errs...)
}

// release is Free for an object in a heap, and closes this handle's named segment.
func (blk *block) release() error {
	if blk.named != nil {
		return blk.closeNamed()
	}
	return blk.free()
}

// closeNamed closes this handle's named segment, if it has one; once per handle.
func (blk *block) closeNamed() error {
	if blk.named == nil || blk.closed.Swap(true) {
		return nil
	}
	return blk.named.Close()
}

// lockHeld takes l. When l was taken over from a process that died holding it, the caller's data
// stays consistent (see Value), so that is a success too; dead then reports it (wrapping
// lock.ErrOwnerDead), for callers that pass it on after releasing l.
func lockHeld(l *lock.Lock) (dead error, err error) {
	if err := l.Lock(); err != nil {
		return nil, err
	}
	if l.Recovered() {
		return lock.ErrOwnerDead, nil
	}
	return nil, nil
}
