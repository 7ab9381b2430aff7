package shm

import (
	"fmt"
	"math/bits"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// The heap carves a segment's space after the header into blocks. A block is a 64-byte header
// followed by the payload, so every payload is 64-byte aligned and no two objects share a cache
// line. Block sizes come in classes, four per doubling (waste at most 25%), from 128 bytes up.
//
// Block header (64 bytes):
//
//	offset size field
//	     0    4 state: blockUsed or blockFree (anything else: not a block, or corrupt)
//	     4    4 size class
//	     8    4 kind of the object in it (Kind)
//	    12    4 generation: bumped by every allocation of the block, carried in its Refs, so a
//	              stale Ref to a block freed and reused since is refused
//	    16    8 payload size asked for
//	    24    8 free-list link: offset/64 of the next free block of the class (0: end)
//
// Freed blocks go on a per-class free list and are reused; fresh blocks come from a bump pointer.
// Both are lock-free: the bump pointer moves by compare-and-swap, and each free list is a Treiber
// stack whose head word carries a 32-bit tag beside the block index, so the ABA problem needs 2^32
// interleaved operations in one window. No lock means no holder that can die with it: a process
// killed in the middle of Alloc or Free loses at most the one block it was moving, and never
// leaves the heap unusable for the others.
//
// The small classes (below shardClasses: blocks up to 2.5 KiB, what a Dict's entries and most
// objects take) have numShards free lists each, their heads in separate cache lines: a process
// frees onto the list of its shard and allocates from it first, then from the others,
// then from the bump pointer. A process claims a shard no live process holds when it maps the
// segment (claimShard), so up to numShards processes at once have one each. Two processes
// allocating and freeing at once (a Dict's Sets: a new
// entry in, the old one out) then do not pass the head's cache line back and forth, each pass
// ~240 ns between the two vCPUs here. The shards are free lists like the first: a block on any
// of them is free for every process, and a process that dies leaves nothing on them that others
// cannot take.
const (
	unit      = 64 // allocation granule and block-header size
	blockUsed = 0x4148_4b53
	blockFree = 0x4648_4b53

	bhState = 0
	bhClass = 4
	bhKind  = 8
	bhGen   = 12
	bhSize  = 16
	bhNext  = 24
)

// classUnits returns the size in 64-byte units of class c.
func classUnits(c int) uint64 {
	if c < 3 {
		return uint64(c) + 2 // 2, 3, 4 units
	}
	e := uint((c-3)/4 + 2)
	j := uint64((c-3)%4 + 1)
	return 1<<e + j<<(e-2)
}

// classOf returns the smallest class of at least u units.
func classOf(u uint64) int {
	if u <= 4 {
		if u < 2 {
			u = 2
		}
		return int(u - 2)
	}
	e := uint(bits.Len64(u-1) - 1) // 2^e < u <= 2^(e+1)
	step := uint64(1) << (e - 2)
	j := (u - 1<<e + step - 1) / step
	return 3 + int(e-2)*4 + int(j-1)
}

// A Heap allocates blocks in a segment. Any process that maps the segment may allocate and free,
// concurrently, without locks. A Heap value is a small handle; copies share the same heap.
type Heap struct {
	seg *Segment
}

// Heap returns the heap of the segment. It fails for a raw segment (OpenRaw).
func (s *Segment) Heap() (*Heap, error) {
	if s.raw {
		return nil, fmt.Errorf("shm: %q: raw segment has no heap", s.name)
	}
	return &Heap{seg: s}, nil
}

// Segment returns the segment the heap lives in.
func (h *Heap) Segment() *Segment { return h.seg }

// BlockSize returns how many bytes of a heap an allocation of payload bytes takes: the 64-byte
// block header plus the payload, rounded up to its size class. A segment of HeaderSize plus the
// BlockSize of each object it will hold has room for exactly those objects.
func BlockSize(payload int) int {
	if payload < 0 || payload > MaxAlloc {
		return -1
	}
	return int(classUnits(classOf((uint64(payload)+2*unit-1)/unit)) * unit)
}

// MaxAlloc is the largest payload one allocation may ask for.
const MaxAlloc = MaxSize - HeaderSize - unit

// Alloc allocates a block with at least size bytes of zeroed payload for an object of the given
// kind, and returns its Ref. It returns ErrNoSpace when the heap has no room.
func (h *Heap) Alloc(size int, kind Kind) (ref Ref, err error) {
	s := h.seg
	if s.closed.Load() {
		return Ref{}, ErrClosed
	}
	if size < 0 || size > MaxAlloc {
		return Ref{}, fmt.Errorf("%w: allocation of %d bytes", ErrBadSize, size)
	}
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	c := classOf((uint64(size) + 2*unit - 1) / unit)
	blk, fresh, err := h.take(c)
	if err != nil {
		return Ref{}, err
	}
	if !fresh {
		clear(s.mem[blk+unit : blk+classUnits(c)*unit])
	}
	atomic.StoreUint32(s.u32(blk+bhClass), uint32(c))
	atomic.StoreUint32(s.u32(blk+bhKind), uint32(kind))
	atomic.StoreUint64(s.u64(blk+bhSize), uint64(size))
	gen := atomic.AddUint32(s.u32(blk+bhGen), 1)
	// Publishes the block header fields above to any process that later validates the block.
	atomic.StoreUint32(s.u32(blk+bhState), blockUsed)
	return Ref{Seg: s.id, Name: s.name, Off: blk + unit, Kind: kind, Gen: gen}, nil
}

// headOf returns the offset of the free-list head of class c in shard sh (see above).
func headOf(c, sh int) uint64 {
	if sh == 0 || c >= shardClasses {
		return offHeads + uint64(c)*8
	}
	return offShards + uint64(sh-1)*shardBytes + uint64(c)*8
}

// take pops a free block of class c, from this process's shard first, or carves a fresh one;
// fresh blocks are still all zeros.
func (h *Heap) take(c int) (blk uint64, fresh bool, err error) {
	s := h.seg
	size := uint64(len(s.mem))
	bsize := classUnits(c) * unit
	shards := 1
	if c < shardClasses {
		shards = numShards
	}
	for i := range shards {
		if blk, ok, err := s.pop(s.u64(headOf(c, (s.shard+i)%shards)), c, bsize); ok || err != nil {
			return blk, false, err
		}
	}
	bump := s.u64(offBump)
	for {
		old := atomic.LoadUint64(bump)
		if old < HeaderSize || old > size || old%unit != 0 {
			return 0, false, fmt.Errorf("%w: heap bump %#x", ErrCorrupt, old)
		}
		if size-old < bsize {
			return 0, false, fmt.Errorf("%w: %d-byte block wanted, %d bytes left in %d-byte segment",
				ErrNoSpace, bsize, size-old, size)
		}
		if atomic.CompareAndSwapUint64(bump, old, old+bsize) {
			return old, true, nil
		}
	}
}

// pop takes the first block of the free list of class c (blocks of bsize bytes) whose head is at
// head; ok is false when the list is empty.
func (s *Segment) pop(head *uint64, c int, bsize uint64) (blk uint64, ok bool, err error) {
	size := uint64(len(s.mem))
	for {
		old := atomic.LoadUint64(head)
		u := uint64(uint32(old))
		if u == 0 {
			return 0, false, nil
		}
		blk = u * unit
		if blk < HeaderSize || blk > size-bsize {
			return 0, false, fmt.Errorf("%w: free list %d points at %#x", ErrCorrupt, c, blk)
		}
		next := atomic.LoadUint64(s.u64(blk + bhNext))
		if atomic.CompareAndSwapUint64(head, old, (old>>32+1)<<32|uint64(uint32(next))) {
			if !atomic.CompareAndSwapUint32(s.u32(blk+bhState), blockFree, blockUsed) ||
				atomic.LoadUint32(s.u32(blk+bhClass)) != uint32(c) {
				return 0, false, fmt.Errorf("%w: block %#x on free list %d is not a free block of that class", ErrCorrupt, blk, c)
			}
			return blk, true, nil
		}
	}
}

// Free returns the block of ref to the heap. Freeing a Ref that is not a live block of this heap,
// or freeing twice, returns an error wrapping ErrBadRef and changes nothing.
func (h *Heap) Free(ref Ref) (err error) {
	s := h.seg
	if s.closed.Load() {
		return ErrClosed
	}
	if ref.Seg != s.id {
		return fmt.Errorf("%w: ref to segment %#x freed in heap of segment %#x", ErrBadRef, ref.Seg, s.id)
	}
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	blk, c, err := s.block(ref)
	if err != nil {
		return err
	}
	// The generation, not the state, decides which Free wins: moving it from the ref's to the
	// next one is a single atomic step that checks the ref is the block's current incarnation.
	// A state CAS alone could not: a stale Free that validated the block just before another
	// process freed and re-allocated it would find the state "used" again and free the new
	// object (and Alloc's take marks a block used before Alloc bumps its generation). After a
	// free the generation is odd relative to any Ref ever handed out, so no stale Ref matches a
	// free block or a block being allocated. A process killed between this CAS and the push
	// below leaks the block (never reachable again, never handed out twice).
	if !atomic.CompareAndSwapUint32(s.u32(blk+bhGen), ref.Gen, ref.Gen+1) {
		return fmt.Errorf("%w: block at %#x freed twice (stale ref, generation %d)", ErrBadRef, ref.Off, ref.Gen)
	}
	if !atomic.CompareAndSwapUint32(s.u32(blk+bhState), blockUsed, blockFree) {
		return fmt.Errorf("%w: block at %#x was not in use when freed", ErrCorrupt, ref.Off)
	}
	head := s.u64(headOf(c, s.shard))
	for {
		old := atomic.LoadUint64(head)
		atomic.StoreUint64(s.u64(blk+bhNext), uint64(uint32(old)))
		// Publishes the link above, and hands the block to the next Alloc of its class.
		if atomic.CompareAndSwapUint64(head, old, (old>>32+1)<<32|blk/unit) {
			return nil
		}
	}
}

// block validates that ref names a used block of this segment of ref's kind and returns the
// block's offset and class.
func (s *Segment) block(ref Ref) (blk uint64, c int, err error) {
	size := uint64(len(s.mem))
	if ref.Off < HeaderSize+unit || ref.Off%unit != 0 || ref.Off >= size {
		return 0, 0, fmt.Errorf("%w: offset %#x outside the heap of a %d-byte segment", ErrBadRef, ref.Off, size)
	}
	blk = ref.Off - unit
	st := atomic.LoadUint32(s.u32(blk + bhState))
	if st != blockUsed {
		return 0, 0, fmt.Errorf("%w: no live object at %#x", ErrBadRef, ref.Off)
	}
	cl := atomic.LoadUint32(s.u32(blk + bhClass))
	if cl >= numClasses || classUnits(int(cl))*unit > size-blk {
		return 0, 0, fmt.Errorf("%w: block at %#x has class %d", ErrCorrupt, blk, cl)
	}
	if k := Kind(atomic.LoadUint32(s.u32(blk + bhKind))); k != ref.Kind {
		return 0, 0, fmt.Errorf("%w: object at %#x is a %v, not a %v", ErrBadRef, ref.Off, k, ref.Kind)
	}
	if g := atomic.LoadUint32(s.u32(blk + bhGen)); g != ref.Gen {
		return 0, 0, fmt.Errorf("%w: stale ref to %#x: the object was freed (generation %d, ref has %d)", ErrBadRef, ref.Off, g, ref.Gen)
	}
	return blk, int(cl), nil
}

// Object validates ref against this segment, a live block of ref.Kind, and returns its payload,
// as long as the size asked for at Alloc (capped by the block). The slice aliases shared memory:
// valid until the segment is closed.
func (s *Segment) Object(ref Ref) (out []byte, err error) {
	if s.raw {
		return nil, fmt.Errorf("%w: raw segment", ErrBadRef)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if ref.Seg != s.id {
		return nil, fmt.Errorf("%w: ref to segment %#x, this is %#x", ErrBadRef, ref.Seg, s.id)
	}
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	blk, c, err := s.block(ref)
	if err != nil {
		return nil, err
	}
	n := atomic.LoadUint64(s.u64(blk + bhSize))
	if max := classUnits(c)*unit - unit; n > max {
		return nil, fmt.Errorf("%w: block at %#x claims %d bytes in a %d-byte block", ErrCorrupt, blk, n, max)
	}
	return s.mem[ref.Off : ref.Off+n : ref.Off+n], nil
}

// SetRoot records ref as the segment's root object: what a process that opens the segment by name
// finds first (a named Array, a named Queue). The store publishes the object: initialise it fully
// before calling SetRoot.
func (s *Segment) SetRoot(ref Ref) (err error) {
	if _, err := s.Object(ref); err != nil {
		return err
	}
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	atomic.StoreUint32(s.u32(offRootKind), uint32(ref.Kind))
	atomic.StoreUint32(s.u32(offRootGen), ref.Gen)
	atomic.StoreUint64(s.u64(offRootOff), ref.Off)
	return nil
}

// Root returns the segment's root object, validated as a live block; ErrBadRef when there is none.
func (s *Segment) Root() (_ Ref, err error) {
	if s.raw {
		return Ref{}, fmt.Errorf("%w: raw segment", ErrBadRef)
	}
	if s.closed.Load() {
		return Ref{}, ErrClosed
	}
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	off := atomic.LoadUint64(s.u64(offRootOff))
	if off == 0 {
		return Ref{}, fmt.Errorf("%w: segment %q has no root object", ErrBadRef, s.name)
	}
	ref := Ref{Seg: s.id, Name: s.name, Off: off, Kind: Kind(atomic.LoadUint32(s.u32(offRootKind))),
		Gen: atomic.LoadUint32(s.u32(offRootGen))}
	if _, err := s.Object(ref); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// guard runs f with faults on unmapped or truncated pages turned into an ErrTruncated error
// instead of a crash (debug.SetPanicOnFault, for the calling goroutine only).
func guard(f func() error) (err error) {
	defer recoverFault(&err, debug.SetPanicOnFault(true))
	return f()
}

// recoverFault, deferred right after debug.SetPanicOnFault(true), restores the old setting and
// turns a memory fault (a peer truncated the file under us) into ErrTruncated in *errp. Other
// panics go on.
func recoverFault(errp *error, old bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if re, ok := r.(runtime.Error); ok {
			if _, isFault := re.(interface{ Addr() uintptr }); isFault {
				*errp = fmt.Errorf("%w: memory fault: %v", ErrTruncated, re)
				return
			}
		}
		panic(r)
	}
}

// Word32 returns the 32-bit word at byte offset off of b, which must lie in shared memory handed
// out by this package. It panics, like a slice index, when off is out of range or not 4-aligned:
// a bug in the caller, not bad shared data.
func Word32(b []byte, off int) *uint32 {
	if off < 0 || off+4 > len(b) || (uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(off))&3 != 0 {
		panic(wordError{32, off, len(b)})
	}
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// Word64 returns the 64-bit word at byte offset off of b, as Word32 does; off must be 8-aligned.
func Word64(b []byte, off int) *uint64 {
	if off < 0 || off+8 > len(b) || (uintptr(unsafe.Pointer(unsafe.SliceData(b)))+uintptr(off))&7 != 0 {
		panic(wordError{64, off, len(b)})
	}
	return (*uint64)(unsafe.Pointer(&b[off]))
}

// wordError is what Word32 and Word64 panic with (a value, not a call, so that they inline).
type wordError struct{ bits, off, n int }

func (e wordError) Error() string {
	return fmt.Sprintf("shm: Word%d at %d of %d bytes: out of range or unaligned", e.bits, e.off, e.n)
}
