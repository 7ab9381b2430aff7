package value

import (
	"fmt"
	"reflect"
)

// Python's typecodes (module array, ctypes, struct's native formats) on Linux amd64 and arm64,
// with the Go types of the same size and representation. 'l' and 'L' are C longs: 8 bytes on
// 64-bit Linux (4 on Windows, which shmkit does not support). '?' (a C _Bool, one byte, 0 or 1)
// is a struct and ctypes code that module array lacks.
//
//	code  C type              bytes  Go type
//	'b'   signed char         1      int8
//	'B'   unsigned char       1      uint8 (byte)
//	'h'   short               2      int16
//	'H'   unsigned short      2      uint16
//	'i'   int                 4      int32
//	'I'   unsigned int        4      uint32
//	'l'   long                8      int (or int64)
//	'L'   unsigned long       8      uint (or uint64, uintptr)
//	'q'   long long           8      int64 (or int)
//	'Q'   unsigned long long  8      uint64 (or uint, uintptr)
//	'f'   float               4      float32
//	'd'   double              8      float64
//	'?'   _Bool               1      bool
var codeKinds = map[byte]struct {
	kind reflect.Kind // the Go kind of the code's natural type
	size uintptr
}{
	'b': {reflect.Int8, 1}, 'B': {reflect.Uint8, 1},
	'h': {reflect.Int16, 2}, 'H': {reflect.Uint16, 2},
	'i': {reflect.Int32, 4}, 'I': {reflect.Uint32, 4},
	'l': {reflect.Int, 8}, 'L': {reflect.Uint, 8},
	'q': {reflect.Int64, 8}, 'Q': {reflect.Uint64, 8},
	'f': {reflect.Float32, 4}, 'd': {reflect.Float64, 8},
	'?': {reflect.Bool, 1},
}

// defaultCode returns the typecode recorded for t, by its kind (named types included: a
// time.Duration is 'q'), or 0 when t is not a single number or bool.
func defaultCode(t reflect.Type) byte {
	switch t.Kind() {
	case reflect.Int8:
		return 'b'
	case reflect.Uint8:
		return 'B'
	case reflect.Int16:
		return 'h'
	case reflect.Uint16:
		return 'H'
	case reflect.Int32:
		return 'i'
	case reflect.Uint32:
		return 'I'
	case reflect.Int:
		return 'l'
	case reflect.Uint, reflect.Uintptr:
		return 'L'
	case reflect.Int64:
		return 'q'
	case reflect.Uint64:
		return 'Q'
	case reflect.Float32:
		return 'f'
	case reflect.Float64:
		return 'd'
	case reflect.Bool:
		return '?'
	}
	return 0
}

// class groups kinds whose values share a representation: signed integers, unsigned integers,
// and the rest by themselves.
func class(k reflect.Kind) reflect.Kind {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return reflect.Int
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return reflect.Uint
	}
	return k
}

// codeFits reports whether typecode c describes values of type t: same size and representation.
func codeFits(c byte, t reflect.Type) error {
	ck, ok := codeKinds[c]
	if !ok {
		return fmt.Errorf("%w: %q", ErrTypecode, c)
	}
	if class(ck.kind) != class(t.Kind()) || ck.size != t.Size() {
		return fmt.Errorf("%w: typecode %q is a %d-byte %v, not a %v", ErrMismatch, c, ck.size, ck.kind, t)
	}
	return nil
}

// Typecode returns the Python typecode that this package records for T in a named Array's header
// ('d' for float64, 'i' for int32, and so on; see the table in the package documentation), or 0
// when T is not a single number or bool (a struct, an array, a complex number).
func Typecode[T any]() byte { return defaultCode(reflect.TypeFor[T]()) }

// CheckTypecode reports whether the Python typecode code describes T: nil when it does, an
// error wrapping ErrTypecode for a code this package does not know, or ErrMismatch for one of
// another size or representation ('i' with int64).
func CheckTypecode[T any](code byte) error { return codeFits(code, reflect.TypeFor[T]()) }
