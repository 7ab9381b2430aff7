package codec

import "unsafe"

// This file holds every use of package unsafe in codec.
//
// The raw encoding is the memory of a value of a type that CheckPOD accepted: no pointers,
// fixed size. Viewing such memory as bytes, and writing any bytes into it, cannot break the
// garbage collector's view of the heap, because the type holds nothing the collector looks
// at. The one invariant a byte pattern can break is a bool holding something other than 0
// or 1; Codec.Decode checks those bytes before it copies.

// bytesOf returns the size bytes of memory that p points to, without copying. p must be
// non-nil and point to a value of a POD type whose size is size; the slice aliases *p and
// must not outlive it.
func bytesOf[T any](p *T, size int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), size)
}
