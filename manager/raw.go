package manager

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
)

// rawType describes a pointer-free fixed-size type that travels as its own memory: its size and
// where its bools are (a byte other than 0 or 1 there is refused, as codec does). It lets the hot
// paths copy without handing a pointer to an interface, which would move the value to the heap.
type rawType struct {
	ok    bool
	size  int
	bools []uintptr
}

func rawTypeOf[T any]() rawType {
	if !codec.For[T]().Raw() {
		return rawType{}
	}
	t := reflect.TypeFor[T]()
	r := rawType{ok: true, size: int(t.Size())}
	r.bools = boolsIn(t, 0, nil)
	return r
}

func boolsIn(t reflect.Type, off uintptr, out []uintptr) []uintptr {
	switch t.Kind() {
	case reflect.Bool:
		out = append(out, off)
	case reflect.Array:
		for i := 0; i < t.Len(); i++ {
			out = boolsIn(t.Elem(), off+uintptr(i)*t.Elem().Size(), out)
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			out = boolsIn(f.Type, off+f.Offset, out)
		}
	}
	return out
}

// bytesOf returns the memory of *p, of n bytes (the caller's raw size of T).
func bytesOf[T any](p *T, n int) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(p)), n) }

// decode copies src into *p after checking its length and bools.
func (r *rawType) decode(src []byte, p unsafe.Pointer) error {
	if len(src) != r.size {
		return fmt.Errorf("raw value of %d bytes, want %d", len(src), r.size)
	}
	for _, o := range r.bools {
		if src[o] > 1 {
			return fmt.Errorf("byte %d holds %d, not a bool", o, src[o])
		}
	}
	copy(unsafe.Slice((*byte)(p), r.size), src)
	return nil
}
