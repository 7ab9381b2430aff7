package value

import (
	"fmt"
	"sync/atomic"
)

// Elements is what AddAt works on: an *Array[T] or a *RawArray[T]. Only this package implements
// it.
type Elements[T any] interface {
	Len() int
	elems() *elems[T]
}

func (a *Array[T]) elems() *elems[T]    { return &a.e }
func (a *RawArray[T]) elems() *elems[T] { return &a.e }

// update applies f to element i as one atomic read-modify-write: it reads the word that holds
// the element (the element itself for 4- and 8-byte elements, the 4-byte word around a 1- or
// 2-byte one), and swaps in f's result with a compare-and-swap of that word, retrying when a
// peer changed the word in between (a neighbouring element included). f sees the element in
// canonical form (padding zero, bools 0 or 1) and returns the new element and whether to store
// it. It returns the element before the change. Elements of other sizes, and a 1- or 2-byte
// element in the partial last word of foreign memory, are ErrNotAtomic. i out of range panics,
// as indexing a slice does.
func (e *elems[T]) update(op string, i int, f func(old T) (T, bool)) (T, error) {
	_ = e.s[i]
	ti := e.blk.ti
	var zero T
	switch ti.elem {
	case 8:
		w := &e.w64[i]
		for {
			cur := atomic.LoadUint64(w)
			old := fromWord[T](ti.fixWord(cur))
			nv, ok := f(old)
			if !ok || atomic.CompareAndSwapUint64(w, cur, toWord(nv)&ti.mask) {
				return old, nil
			}
		}
	case 4, 2, 1:
		word, sh := i, 0
		if ti.elem != 4 {
			p := e.off + i*ti.size
			word, sh = p>>2, 8*(p&3)
		}
		if word >= len(e.w32) {
			return zero, fmt.Errorf("%w: %s of element %d, in the partial last word of foreign memory", ErrNotAtomic, op, i)
		}
		w := &e.w32[word]
		mask := uint32(ti.mask)
		if ti.elem != 4 {
			mask = uint32(1)<<(8*ti.size) - 1
		}
		for {
			cur := atomic.LoadUint32(w)
			old := fromWord[T](ti.fixWord(uint64(cur>>sh)) & uint64(mask))
			nv, ok := f(old)
			if !ok {
				return old, nil
			}
			next := cur&^(mask<<sh) | (uint32(toWord(nv)&ti.mask)&mask)<<sh
			if atomic.CompareAndSwapUint32(w, cur, next) {
				return old, nil
			}
		}
	}
	return zero, fmt.Errorf("%w: %s of a %d-byte %v element", ErrNotAtomic, op, ti.size, ti.t)
}

// equalCanon reports whether a and b are the same T once canonical (padding and bools).
func equalCanon[T any](ti *typeInfo, a, b T) bool {
	return ti.fixWord(toWord(a)) == ti.fixWord(toWord(b))
}

// CompareAndSwap sets element i to new if it holds old, atomically, and reports whether it did.
// It takes no lock: for elements of 1, 2, 4 or 8 bytes (every Python typecode) it is one
// compare-and-swap of the word holding the element, sequentially consistent with At, Set and
// every other atomic operation on the Array; other element sizes are ErrNotAtomic. Padding and
// bool bytes are compared in canonical form. An index out of range panics, as indexing a slice
// does.
func (a *Array[T]) CompareAndSwap(i int, old, new T) (bool, error) {
	return casElem(&a.e, i, old, new)
}

// Swap sets element i to x and returns the element it replaced, atomically and without a lock,
// with the guarantees and limits of CompareAndSwap.
func (a *Array[T]) Swap(i int, x T) (T, error) {
	return a.e.update("Swap", i, func(T) (T, bool) { return x, true })
}

// CompareAndSwap is Array.CompareAndSwap for a RawArray.
func (a *RawArray[T]) CompareAndSwap(i int, old, new T) (bool, error) {
	return casElem(&a.e, i, old, new)
}

// Swap is Array.Swap for a RawArray.
func (a *RawArray[T]) Swap(i int, x T) (T, error) {
	return a.e.update("Swap", i, func(T) (T, bool) { return x, true })
}

func casElem[T any](e *elems[T], i int, old, new T) (bool, error) {
	swapped := false
	_, err := e.update("CompareAndSwap", i, func(cur T) (T, bool) {
		swapped = equalCanon(e.blk.ti, cur, old)
		return new, swapped
	})
	return swapped, err
}

// AddAt atomically adds delta to element i of a (an *Array[T] or *RawArray[T] of integers) and
// returns the new element, wrapping around on overflow as Go integers do; it takes no lock. It is
// one compare-and-swap loop on the word holding the element, sequentially consistent with every
// other atomic operation on the Array. Python needs `with arr.get_lock(): arr[i] += 1` for this.
// The error is ErrNotAtomic only for a 1- or 2-byte element in the partial last word of foreign
// memory (OpenForeignArray). An index out of range panics, as indexing a slice does.
func AddAt[T Integer](a Elements[T], i int, delta T) (T, error) {
	old, err := a.elems().update("AddAt", i, func(cur T) (T, bool) { return cur + delta, true })
	return old + delta, err
}
