package value

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// elems is the element access shared by Array and RawArray: a typed view of the data section
// plus word views for atomic access. Its fields never change after construction.
type elems[T any] struct {
	blk  *block
	s    []T      // the zero-copy view
	w64  []uint64 // 8-byte elements
	w32  []uint32 // 4-byte elements; the 4-byte words holding 1- and 2-byte elements
	off  int      // byte offset of element 0 within the memory w32 covers
	fast int      // 8 or 4 when elements are plain 8- or 4-byte words (At and Set's fast path)
}

func newElems[T any](blk *block, wbase []byte, off int) elems[T] {
	e := elems[T]{blk: blk, s: sliceOf[T](blk.data, blk.n), off: off}
	if blk.ti.plain && (blk.ti.elem == 8 || blk.ti.elem == 4) {
		e.fast = blk.ti.elem
	}
	switch blk.ti.elem {
	case 8:
		e.w64 = sliceOf[uint64](blk.data, blk.n)
	case 4:
		e.w32 = sliceOf[uint32](blk.data, blk.n)
	case 1, 2:
		e.w32 = sliceOf[uint32](wbase, len(wbase)/4)
	}
	return e
}

// at and set implement At and Set: one atomic access for 1-, 2-, 4- and 8-byte elements (a
// 4-byte word holding a 1- or 2-byte element is loaded whole, or changed by compare-and-swap), a
// plain copy otherwise. i is checked by indexing e.s, so an index out of range panics as a slice
// index does.
func (e *elems[T]) at(i int) T {
	switch e.fast {
	case 8:
		return fromWord[T](atomic.LoadUint64(&e.w64[i]))
	case 4:
		return fromWord[T](uint64(atomic.LoadUint32(&e.w32[i])))
	}
	return e.atSlow(i)
}

func (e *elems[T]) atSlow(i int) T {
	_ = e.s[i]
	ti := e.blk.ti
	var w uint64
	switch ti.elem {
	case 8:
		w = atomic.LoadUint64(&e.w64[i])
	case 4:
		w = uint64(atomic.LoadUint32(&e.w32[i]))
	case 1, 2:
		p := e.off + i*ti.size
		if p>>2 >= len(e.w32) {
			return e.fix(e.s[i]) // in a foreign segment's last, partial word
		}
		w = uint64(atomic.LoadUint32(&e.w32[p>>2]) >> (8 * (p & 3)))
	default:
		return e.fix(e.s[i])
	}
	if !ti.plain {
		w = ti.fixWord(w)
	}
	return fromWord[T](w)
}

func (e *elems[T]) fix(x T) T {
	if !e.blk.ti.plain {
		e.blk.ti.canon(bytesOf(&x))
	}
	return x
}

func (e *elems[T]) set(i int, x T) {
	switch e.fast {
	case 8:
		atomic.StoreUint64(&e.w64[i], toWord(x))
		return
	case 4:
		atomic.StoreUint32(&e.w32[i], uint32(toWord(x)))
		return
	}
	e.setSlow(i, x)
}

func (e *elems[T]) setSlow(i int, x T) {
	_ = e.s[i]
	ti := e.blk.ti
	switch ti.elem {
	case 8:
		atomic.StoreUint64(&e.w64[i], toWord(x)&ti.mask)
	case 4:
		atomic.StoreUint32(&e.w32[i], uint32(toWord(x)&ti.mask))
	case 1, 2:
		p := e.off + i*ti.size
		if p>>2 >= len(e.w32) {
			e.s[i] = x
			return
		}
		sh := 8 * (p & 3)
		mask := uint32(1)<<(8*ti.size) - 1
		v := uint32(toWord(x)&ti.mask) << sh
		w := &e.w32[p>>2]
		for {
			old := atomic.LoadUint32(w)
			if atomic.CompareAndSwapUint32(w, old, old&^(mask<<sh)|v) {
				return
			}
		}
	default:
		e.s[i] = x
	}
}

// copyOut copies elements into dst, each 1-, 2-, 4- or 8-byte element with one load of its size.
func (e *elems[T]) copyOut(dst []T) int {
	n := min(len(dst), len(e.s))
	if e.blk.ti.elem == 0 || !e.blk.ti.plain {
		for i := range n {
			dst[i] = e.at(i)
		}
		return n
	}
	copyWords(bytesOfSlice(dst[:n]), bytesOfSlice(e.s[:n]), e.blk.ti.elem)
	return n
}

// copyIn copies src into the elements, each 1-, 2-, 4- or 8-byte element with one store of its
// size.
func (e *elems[T]) copyIn(src []T) int {
	n := min(len(src), len(e.s))
	if e.blk.ti.elem == 0 {
		copy(e.s, src[:n])
		return n
	}
	copyWords(bytesOfSlice(e.s[:n]), bytesOfSlice(src[:n]), e.blk.ti.elem)
	return n
}

func (e *elems[T]) fill(x T) {
	for i := range e.s {
		e.set(i, x)
	}
}

// copyWords copies src to dst (same length, a multiple of size) with one load and one store of
// size bytes per element: unlike memmove, it never splits an element between two accesses.
func copyWords(dst, src []byte, size int) {
	switch size {
	case 8:
		d, s := sliceOf[uint64](dst, len(dst)/8), sliceOf[uint64](src, len(src)/8)
		for i := range d {
			d[i] = s[i]
		}
	case 4:
		d, s := sliceOf[uint32](dst, len(dst)/4), sliceOf[uint32](src, len(src)/4)
		for i := range d {
			d[i] = s[i]
		}
	case 2:
		d, s := sliceOf[uint16](dst, len(dst)/2), sliceOf[uint16](src, len(src)/2)
		for i := range d {
			d[i] = s[i]
		}
	default:
		copy(dst, src)
	}
}

// An Array is a fixed-length sequence of T in shared memory with a lock: Python's
// multiprocessing.Array (lock=True). It reaches child processes as a Ref (pass it to proc.Start,
// or OpenArray its Ref); a named one (NewNamedArray) is opened by name by any process, Python's
// multiprocessing.shared_memory included (see the package documentation for the layout).
//
// Element access takes no lock. At and Set read and write an element of 1, 2, 4 or 8 bytes
// (every Python typecode) with one sequentially consistent atomic operation, so it is never torn
// and a Set happens before the At that reads its value. Larger elements, and elements of 3, 5, 6
// or 7 bytes, are copied with plain memory accesses and can be torn by a concurrent Set: guard
// them with the lock (Locker or Update). An index out of range panics, exactly as indexing a Go
// slice does.
//
// Slice gives the elements as an ordinary Go slice over the shared memory, with no copy and no
// synchronisation of its own: reads and writes through it are plain memory accesses (aligned
// elements of up to 8 bytes are still never torn by the hardware, but the compiler may keep a
// value in a register across a loop; use At for a value another process is changing, or
// synchronise with the lock or another shmkit primitive).
//
// The lock (Locker, held by Update) is the user's, as in Python; no method takes it by itself.
// A process that dies in the middle of CopyFrom, Fill or an Update leaves the elements it had not
// reached unchanged and each element it wrote whole (for 1-, 2-, 4- and 8-byte elements); if it
// held the lock, the next Update gets lock.ErrOwnerDead and can repair them.
//
// An Array's methods are safe for concurrent use by any number of goroutines and processes with
// the atomicity just stated.
type Array[T any] struct {
	e elems[T]
}

// NewArray allocates an Array of n zero elements, with its lock, in the process's default heap
// (or the heap In names). It fails with ErrType for a T that holds pointers.
func NewArray[T any](n int, opts ...Option) (*Array[T], error) {
	return newArray[T](opts, infoOf[T]().code, n, nil)
}

// NewArrayFrom allocates an Array holding a copy of src, with its lock: Python's
// Array('i', range(10)).
func NewArrayFrom[T any](src []T, opts ...Option) (*Array[T], error) {
	return newArray(opts, infoOf[T]().code, len(src), src)
}

// NewArrayCode allocates an Array of n zero elements described by a Python typecode ('i' for
// int32, see Typecode), with its lock: Python's Array('i', n). It fails with ErrMismatch when
// code does not describe T; the code is recorded in the header.
func NewArrayCode[T any](code byte, n int, opts ...Option) (*Array[T], error) {
	if err := CheckTypecode[T](code); err != nil {
		return nil, err
	}
	return newArray[T](opts, code, n, nil)
}

func newArray[T any](opts []Option, code byte, n int, src []T) (*Array[T], error) {
	ti := infoOf[T]()
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	blk, err := newBlock(h, ti, ti.kinds.array, formArray, code, n, true, initArray(src))
	if err != nil {
		return nil, fmt.Errorf("value: new Array[%v]: %w", ti.t, err)
	}
	return &Array[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

func initArray[T any](src []T) func(*block) {
	return func(blk *block) {
		if len(src) > 0 {
			copy(sliceOf[T](blk.data, blk.n), src)
		}
	}
}

// OpenArray returns the Array that ref names, in this or any process that maps its segment. The
// header is validated first: a Ref of another kind, or a header whose element size, length or
// data offset does not fit its block, gives an error, never a crash.
func OpenArray[T any](ref shm.Ref) (*Array[T], error) {
	ti := infoOf[T]()
	blk, err := openBlock(ref, ti, ti.kinds.array, formArray, true)
	if err != nil {
		return nil, err
	}
	return &Array[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// Len returns the number of elements.
func (a *Array[T]) Len() int { return len(a.e.s) }

// At returns element i; see Array for its atomicity. It panics if i is out of range.
func (a *Array[T]) At(i int) T { return a.e.at(i) }

// Set sets element i to x; see Array for its atomicity. It panics if i is out of range.
func (a *Array[T]) Set(i int, x T) { a.e.set(i, x) }

// Slice returns the elements as a Go slice over the shared memory: no copy, and writes through it
// are seen by every process. It is valid while the Array's memory is: until Free, or until the
// segment it lives in is closed (Close, for a named Array); using it afterwards faults or reads
// another object's memory. See Array about synchronisation.
func (a *Array[T]) Slice() []T { return a.e.s }

// CopyTo copies min(len(dst), Len()) elements into dst and returns how many. Each element of 1,
// 2, 4 or 8 bytes is read whole; the copy as a whole is not atomic (hold the lock for that).
func (a *Array[T]) CopyTo(dst []T) int { return a.e.copyOut(dst) }

// CopyFrom copies min(len(src), Len()) elements from src and returns how many. Each element of
// 1, 2, 4 or 8 bytes is written whole; the copy as a whole is not atomic.
func (a *Array[T]) CopyFrom(src []T) int { return a.e.copyIn(src) }

// Fill sets every element to x, each with Set.
func (a *Array[T]) Fill(x T) { a.e.fill(x) }

// Update calls fn with the elements (the Slice view) while holding the Array's lock: Python's
// "with arr.get_lock(): ...". fn must not take the lock (Locker: it is not re-entrant) nor keep the slice.
// If a process died holding the lock, Update takes it over, still calls fn, and returns an error
// wrapping lock.ErrOwnerDead: the elements may be half-updated by the dead process, and fn is the
// place to repair them. It fails without calling fn only when the lock's shared word is corrupt.
func (a *Array[T]) Update(fn func([]T)) error {
	l := a.e.blk.lk
	dead, err := lockHeld(l)
	if err != nil {
		return fmt.Errorf("value: Update: %w", err)
	}
	fn(a.e.s)
	if err := l.Unlock(); err != nil {
		return fmt.Errorf("value: Update: unlock: %w", err)
	}
	if dead != nil {
		return fmt.Errorf("value: Update: %w", dead)
	}
	return nil
}

// Locker returns the Array's lock, Python's get_lock(); see Value.Locker. Holding it excludes
// Update and every other holder; element access does not take it.
func (a *Array[T]) Locker() *lock.Lock { return a.e.blk.lk }

// Typecode returns the Python typecode recorded in the Array's header, or 0.
func (a *Array[T]) Typecode() byte { return a.e.blk.code }

// Ref returns the Array's Ref, by which another process opens it.
func (a *Array[T]) Ref() shm.Ref { return a.e.blk.ref }

// Free returns the Array's memory and its lock's to their heap. Call it once, when no process
// uses the Array any more; using it (or a Slice of it) afterwards, here or in another process, is
// undefined. For a named Array, Free is Close.
func (a *Array[T]) Free() error { return a.e.blk.release() }

// Close releases this process's handle on a named Array: the last handle of the process unmaps
// the segment (every Slice of it becomes invalid), and the creator's also unlinks its name. For
// an Array in a heap it does nothing.
func (a *Array[T]) Close() error { return a.e.blk.closeNamed() }

// A RawArray is an Array without a lock: Python's multiprocessing.RawArray. Element access is the
// same as an Array's.
type RawArray[T any] struct {
	e elems[T]
}

// NewRawArray allocates a RawArray of n zero elements in the process's default heap (or the heap
// In names).
func NewRawArray[T any](n int, opts ...Option) (*RawArray[T], error) {
	return newRawArray[T](opts, n, nil)
}

// NewRawArrayFrom allocates a RawArray holding a copy of src.
func NewRawArrayFrom[T any](src []T, opts ...Option) (*RawArray[T], error) {
	return newRawArray(opts, len(src), src)
}

func newRawArray[T any](opts []Option, n int, src []T) (*RawArray[T], error) {
	ti := infoOf[T]()
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	blk, err := newBlock(h, ti, ti.kinds.rawArray, formArray, ti.code, n, false, initArray(src))
	if err != nil {
		return nil, fmt.Errorf("value: new RawArray[%v]: %w", ti.t, err)
	}
	return &RawArray[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// OpenRawArray returns the RawArray that ref names, after validating its header.
func OpenRawArray[T any](ref shm.Ref) (*RawArray[T], error) {
	ti := infoOf[T]()
	blk, err := openBlock(ref, ti, ti.kinds.rawArray, formArray, false)
	if err != nil {
		return nil, err
	}
	return &RawArray[T]{e: newElems[T](blk, blk.data, 0)}, nil
}

// Len returns the number of elements.
func (a *RawArray[T]) Len() int { return len(a.e.s) }

// At returns element i; see Array. It panics if i is out of range.
func (a *RawArray[T]) At(i int) T { return a.e.at(i) }

// Set sets element i to x; see Array. It panics if i is out of range.
func (a *RawArray[T]) Set(i int, x T) { a.e.set(i, x) }

// Slice returns the elements as a Go slice over the shared memory; see Array.Slice.
func (a *RawArray[T]) Slice() []T { return a.e.s }

// CopyTo copies min(len(dst), Len()) elements into dst; see Array.CopyTo.
func (a *RawArray[T]) CopyTo(dst []T) int { return a.e.copyOut(dst) }

// CopyFrom copies min(len(src), Len()) elements from src; see Array.CopyFrom.
func (a *RawArray[T]) CopyFrom(src []T) int { return a.e.copyIn(src) }

// Fill sets every element to x, each with Set.
func (a *RawArray[T]) Fill(x T) { a.e.fill(x) }

// Typecode returns the Python typecode recorded in the header, or 0.
func (a *RawArray[T]) Typecode() byte { return a.e.blk.code }

// Ref returns the RawArray's Ref, by which another process opens it. A RawArray attached to
// foreign memory (OpenForeignArray) has none: the zero Ref.
func (a *RawArray[T]) Ref() shm.Ref { return a.e.blk.ref }

// Free returns the RawArray's memory to its heap; see Array.Free. For a named or foreign
// RawArray, Free is Close.
func (a *RawArray[T]) Free() error { return a.e.blk.release() }

// Close releases this process's handle on a named or foreign RawArray (see Array.Close); for one
// in a heap it does nothing.
func (a *RawArray[T]) Close() error { return a.e.blk.closeNamed() }
