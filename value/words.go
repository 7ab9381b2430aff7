package value

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
)

// Multi-word data (a Value of more than 8 bytes) is copied between shared memory and private
// values one aligned 8-byte word at a time, each with a sequentially consistent atomic load or
// store: no access is ever a data race, and each word is whole, though a copy of several words is
// not atomic as a whole (that is what the double buffer and the generation word are for).

// readWords copies the words of shared memory src into the bytes of dst (len(src) is len(dst)
// rounded up to 8; the extra bytes of the last word are dropped).
func readWords(dst []byte, src []byte) {
	ws := sliceOf[uint64](src, len(src)/8)
	for i := range ws {
		v := atomic.LoadUint64(&ws[i])
		if o := i * 8; o+8 <= len(dst) {
			binary.NativeEndian.PutUint64(dst[o:], v)
		} else {
			var tail [8]byte
			binary.NativeEndian.PutUint64(tail[:], v)
			copy(dst[o:], tail[:])
		}
	}
}

// writeWords copies the bytes of src into the words of shared memory dst, zero-filling the last
// word past len(src).
func writeWords(dst []byte, src []byte) {
	ws := sliceOf[uint64](dst, len(dst)/8)
	for i := range ws {
		var v uint64
		if o := i * 8; o+8 <= len(src) {
			v = binary.NativeEndian.Uint64(src[o:])
		} else {
			var tail [8]byte
			copy(tail[:], src[o:])
			v = binary.NativeEndian.Uint64(tail[:])
		}
		atomic.StoreUint64(&ws[i], v)
	}
}

// slotOf returns slot s (0 or 1) of a double-buffered Value, or the one slot of a RawValue.
func (blk *block) slotOf(s uint64) []byte {
	n := roundUp8(blk.ti.size)
	o := int(s&1) * n
	return blk.data[o : o+n : o+n]
}

// readSlot returns the T in slot s, canonical (bools 0 or 1, padding zero).
func readSlot[T any](blk *block, s uint64) T {
	var x T
	xb := bytesOf(&x)
	readWords(xb, blk.slotOf(s))
	if !blk.ti.plain {
		blk.ti.canon(xb)
	}
	return x
}

// writeSlot stores x, made canonical, in slot s.
func writeSlot[T any](blk *block, s uint64, x T) {
	xb := bytesOf(&x) // x is our copy
	if !blk.ti.plain {
		blk.ti.canon(xb)
	}
	writeWords(blk.slotOf(s), xb)
}

// loadDouble reads a double-buffered Value without a lock, as a sequence lock's reader does: it
// reads the generation g, copies slot g&1, and keeps the copy if the generation has not moved.
// A writer only ever writes the other slot, and moves the generation after it has written it
// (see Value.Store); so an unchanged generation proves no write overlapped the copy. A writer
// that stalls or dies mid-write never holds readers up: they read the slot it is not writing.
// It returns the generation read, for Update.
func loadDouble[T any](blk *block) (T, uint64) {
	for i := 1; ; i++ {
		g := atomic.LoadUint64(blk.gen)
		x := readSlot[T](blk, g)
		if atomic.LoadUint64(blk.gen) == g {
			return x, g
		}
		if i%16 == 0 {
			runtime.Gosched()
		}
	}
}
