package value

import "unsafe"

// This file holds every use of package unsafe in value.
//
// The types this package stores are pointer-free (codec.CheckPOD accepted them): viewing their
// memory as bytes or words, and giving them any bit pattern, cannot break the garbage collector's
// view of the heap. The one invariant a bit pattern can break is a bool holding something other
// than 0 or 1; Load and At normalise bool bytes (see typeInfo.fixBools).

// toWord returns the bytes of v, which must be at most 8 bytes long, as the low bytes of a
// uint64 in memory order (the rest zero).
func toWord[T any](v T) uint64 {
	var w uint64
	*(*T)(unsafe.Pointer(&w)) = v
	return w
}

// fromWord is the inverse of toWord.
func fromWord[T any](w uint64) T {
	return *(*T)(unsafe.Pointer(&w))
}

// bytesOf returns the memory of *p as bytes, without copying.
func bytesOf[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// sliceOf returns the first n elements of type T stored in b. The caller has checked that b
// holds n*size bytes and is aligned for T.
func sliceOf[T any](b []byte, n int) []T {
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// bytesOfSlice returns the memory of the elements of s as bytes, without copying.
func bytesOfSlice[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}
