package codec

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrNotPOD is wrapped by the error CheckPOD returns for a type that is not pointer-free
// and fixed-size; test for it with errors.Is.
var ErrNotPOD = errors.New("codec: type is not pointer-free")

// notPODError names the first field of typ that makes it unfit for raw copying.
type notPODError struct {
	typ  reflect.Type
	path string // "" for typ itself, else "Inner.Names" or "[0].Name"
	kind reflect.Kind
}

func (e *notPODError) Error() string {
	return fmt.Sprintf("codec: type %s is not pointer-free: %s is %s", e.typ, where(e.path), kindPhrase(e.kind))
}

func (e *notPODError) Unwrap() error { return ErrNotPOD }

// kindPhrase names a refused kind with its article: "a slice", "an interface".
func kindPhrase(k reflect.Kind) string {
	switch k {
	case reflect.Pointer:
		return "a pointer"
	case reflect.UnsafePointer:
		return "an unsafe.Pointer"
	case reflect.Interface:
		return "an interface"
	default: // slice, string, map, chan, func
		return "a " + k.String()
	}
}

// CheckPOD returns nil if values of t are pointer-free and of fixed size, so they can be
// copied as raw bytes into shared memory and read in another process of the same program:
// bool, int*, uint* (uintptr included), float*, complex*, and arrays and structs of those,
// whatever their field names, exported or not. Zero-size types are accepted whatever they
// are made of, since they hold nothing.
//
// Otherwise it returns an error wrapping ErrNotPOD that names the first offending field by
// its path and kind, for example
//
//	codec: type main.T is not pointer-free: field Inner.Names is a slice
//
// Pointers, unsafe.Pointer, slices, strings, maps, interfaces, chans and funcs are refused.
// Array elements appear in the path as [0]. A nil t is refused too.
func CheckPOD(t reflect.Type) error {
	if t == nil {
		return fmt.Errorf("%w: nil type", ErrNotPOD)
	}
	if path, kind, ok := findPointer(t, ""); ok {
		return &notPODError{typ: t, path: path, kind: kind}
	}
	return nil
}

// findPointer returns the path and kind of the first part of t, reached through path, that
// is not POD.
func findPointer(t reflect.Type, path string) (string, reflect.Kind, bool) {
	if t.Size() == 0 {
		return "", 0, false
	}
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", 0, false
	case reflect.Array:
		return findPointer(t.Elem(), path+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if fp, k, ok := findPointer(f.Type, p); ok {
				return fp, k, true
			}
		}
		return "", 0, false
	default:
		return path, t.Kind(), true
	}
}

// boolBitmap returns a bitmap with bit i set when byte i of a value of the POD type t is a
// bool, or nil when t holds no bool.
func boolBitmap(t reflect.Type) []uint64 {
	if !hasBool(t) {
		return nil
	}
	bm := make([]uint64, (t.Size()+63)/64)
	markBools(t, 0, bm)
	return bm
}

func hasBool(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasBool(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasBool(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// markBools sets the bits of bm for the bool bytes of a value of type t at offset off.
func markBools(t reflect.Type, off uintptr, bm []uint64) {
	switch t.Kind() {
	case reflect.Bool:
		bm[off/64] |= 1 << (off % 64)
	case reflect.Array:
		e := t.Elem()
		if !hasBool(e) {
			return
		}
		for i := range uintptr(t.Len()) {
			markBools(e, off+i*e.Size(), bm)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			markBools(f.Type, off+f.Offset, bm)
		}
	}
}
