package value

import (
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/shmkit/shmkit/internal/codec"
)

// typeInfo is what this package needs to know about a stored type T, computed once per type.
type typeInfo struct {
	t     reflect.Type
	size  int
	align int
	code  byte     // Python typecode recorded for T, 0 when none
	bools []int    // byte offsets of the bools in a T
	gaps  [][2]int // byte ranges [start, end) of a T's padding
	plain bool     // no bools and no padding: every bit pattern is canonical
	mask  uint64   // for T of at most 8 bytes: the bytes of the word that are not padding
	word  bool     // T fits one 64-bit word (size <= 8): a Value's operations are single atomics
	elem  int      // 1, 2, 4 or 8 when an Array element is read and written by one atomic access; else 0
	kinds kindSet  // the heap kinds of Value[T], RawValue[T], Array[T], RawArray[T]
	err   error    // why T cannot be stored, or nil
}

var (
	infos       sync.Map   // reflect.Type -> *typeInfo
	registering sync.Mutex // serialises the computation (and kind registration) of new entries
)

// infoOf returns the typeInfo of T; its err says whether T can be stored.
func infoOf[T any]() *typeInfo {
	t := reflect.TypeFor[T]()
	if ti, ok := infos.Load(t); ok {
		return ti.(*typeInfo)
	}
	registering.Lock()
	defer registering.Unlock()
	if ti, ok := infos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := newTypeInfo(t)
	if ti.err == nil {
		ti.kinds, ti.err = registerKinds[T](t)
	}
	infos.Store(t, ti)
	return ti
}

func newTypeInfo(t reflect.Type) *typeInfo {
	ti := &typeInfo{t: t, size: int(t.Size()), align: t.Align()}
	if err := codec.CheckPOD(t); err != nil {
		ti.err = fmt.Errorf("%w: %w", ErrType, err)
		return ti
	}
	if ti.size == 0 || ti.size > math.MaxInt32 {
		ti.err = fmt.Errorf("%w: %v has size %d (1 to %d bytes allowed)", ErrType, t, ti.size, math.MaxInt32)
		return ti
	}
	ti.code = defaultCode(t)
	collect(t, 0, &ti.bools, &ti.gaps)
	ti.plain = len(ti.bools) == 0 && len(ti.gaps) == 0
	if ti.size <= 8 {
		ti.word = true
		ti.mask = 1<<(8*ti.size) - 1
		if ti.size == 8 {
			ti.mask = ^uint64(0)
		}
		for _, g := range ti.gaps {
			for i := g[0]; i < g[1]; i++ {
				ti.mask &^= 0xff << (8 * i)
			}
		}
	}
	switch ti.size {
	case 1, 2, 4, 8:
		ti.elem = ti.size
	}
	return ti
}

// collect appends to bools the offset of every bool in a t at off, and to gaps the byte ranges
// [start, end) of its padding. Arrays of elements holding neither are skipped whole.
func collect(t reflect.Type, off int, bools *[]int, gaps *[][2]int) {
	switch t.Kind() {
	case reflect.Bool:
		*bools = append(*bools, off)
	case reflect.Array:
		e := t.Elem()
		if !holdsBoolOrPadding(e) {
			return
		}
		for i := range t.Len() {
			collect(e, off+i*int(e.Size()), bools, gaps)
		}
	case reflect.Struct:
		end := 0
		for i := range t.NumField() {
			fl := t.Field(i)
			if fo := int(fl.Offset); fo > end {
				*gaps = append(*gaps, [2]int{off + end, off + fo})
			}
			collect(fl.Type, off+int(fl.Offset), bools, gaps)
			end = int(fl.Offset + fl.Type.Size())
		}
		if sz := int(t.Size()); sz > end {
			*gaps = append(*gaps, [2]int{off + end, off + sz})
		}
	}
}

// holdsBoolOrPadding reports whether a t holds a bool or padding bytes.
func holdsBoolOrPadding(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool:
		return true
	case reflect.Array:
		return t.Len() > 0 && holdsBoolOrPadding(t.Elem())
	case reflect.Struct:
		var sum uintptr
		for i := range t.NumField() {
			ft := t.Field(i).Type
			if holdsBoolOrPadding(ft) {
				return true
			}
			sum += ft.Size()
		}
		return sum != t.Size()
	}
	return false
}

// canon zeroes the padding bytes of the T whose memory is b, and makes every bool byte 0 or 1 (a
// peer may have written anything there), so that equal values have equal bytes.
func (ti *typeInfo) canon(b []byte) {
	for _, g := range ti.gaps {
		clear(b[g[0]:g[1]])
	}
	for _, off := range ti.bools {
		if b[off] > 1 {
			b[off] = 1
		}
	}
}

// fixWord canonicalises the word form of a T of at most 8 bytes: padding bytes zero, bool bytes 0
// or 1 (a peer may have written anything there).
func (ti *typeInfo) fixWord(w uint64) uint64 {
	w &= ti.mask
	for _, off := range ti.bools {
		sh := 8 * off
		if w>>sh&0xff > 1 {
			w = w&^(0xff<<sh) | 1<<sh
		}
	}
	return w
}
