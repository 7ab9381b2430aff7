package codec_test

import (
	"errors"
	"reflect"
	"structs"
	"testing"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
)

type point struct{ X, Y float64 }

type podAll struct {
	B      bool
	I      int
	I8     int8
	I16    int16
	I32    int32
	I64    int64
	U      uint
	U8     uint8
	U16    uint16
	U32    uint32
	U64    uint64
	Up     uintptr
	F32    float32
	F64    float64
	C64    complex64
	C      complex128
	A      [3]point
	Grid   [2][2]int32
	hidden int // unexported fields are fine
	_      [4]byte
}

type withHostLayout struct {
	_ structs.HostLayout
	N int64
}

type inner struct {
	ID    int
	Names []string
}

type outer struct {
	A     int
	Inner inner
}

type deep struct {
	A [2]struct {
		B struct {
			C map[string]int
		}
	}
}

type embedded struct {
	point
	inner
}

type zeroSized struct {
	N int64
	_ [0]func() // makes the struct incomparable, holds nothing
	_ [0]*int
	_ struct{}
}

func TestCheckPOD(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		want string // "" when POD
	}{
		{"bool", reflect.TypeFor[bool](), ""},
		{"int", reflect.TypeFor[int](), ""},
		{"uintptr", reflect.TypeFor[uintptr](), ""},
		{"complex128", reflect.TypeFor[complex128](), ""},
		{"array", reflect.TypeFor[[16]float32](), ""},
		{"struct", reflect.TypeFor[point](), ""},
		{"every kind", reflect.TypeFor[podAll](), ""},
		{"HostLayout", reflect.TypeFor[withHostLayout](), ""},
		{"empty struct", reflect.TypeFor[struct{}](), ""},
		{"zero-length array of pointers", reflect.TypeFor[[0]*int](), ""},
		{"zero-size fields", reflect.TypeFor[zeroSized](), ""},

		{"pointer", reflect.TypeFor[*int](),
			"codec: type *int is not pointer-free: it is a pointer"},
		{"string", reflect.TypeFor[string](),
			"codec: type string is not pointer-free: it is a string"},
		{"any", reflect.TypeFor[any](),
			"codec: type interface {} is not pointer-free: it is an interface"},
		{"slice field", reflect.TypeFor[struct{ S []int }](),
			"codec: type struct { S []int } is not pointer-free: field S is a slice"},
		{"string field", reflect.TypeFor[struct {
			N int
			s string
		}](),
			"codec: type struct { N int; s string } is not pointer-free: field s is a string"},
		{"map field", reflect.TypeFor[struct{ M map[int]int }](),
			"codec: type struct { M map[int]int } is not pointer-free: field M is a map"},
		{"interface field", reflect.TypeFor[struct{ E error }](),
			"codec: type struct { E error } is not pointer-free: field E is an interface"},
		{"chan field", reflect.TypeFor[struct{ C chan int }](),
			"codec: type struct { C chan int } is not pointer-free: field C is a chan"},
		{"func field", reflect.TypeFor[struct{ F func() }](),
			"codec: type struct { F func() } is not pointer-free: field F is a func"},
		{"pointer field", reflect.TypeFor[struct{ P *point }](),
			"codec: type struct { P *codec_test.point } is not pointer-free: field P is a pointer"},
		{"unsafe.Pointer field", reflect.TypeFor[struct{ P unsafe.Pointer }](),
			"codec: type struct { P unsafe.Pointer } is not pointer-free: field P is an unsafe.Pointer"},
		{"nested", reflect.TypeFor[outer](),
			"codec: type codec_test.outer is not pointer-free: field Inner.Names is a slice"},
		{"nested in arrays", reflect.TypeFor[deep](),
			"codec: type codec_test.deep is not pointer-free: field A[0].B.C is a map"},
		{"array of strings", reflect.TypeFor[[4]string](),
			"codec: type [4]string is not pointer-free: element [0] is a string"},
		{"embedded", reflect.TypeFor[embedded](),
			"codec: type codec_test.embedded is not pointer-free: field inner.Names is a slice"},
		{"nil", nil, "codec: type is not pointer-free: nil type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := codec.CheckPOD(tt.typ)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckPOD(%v) = %v, want nil", tt.typ, err)
			case tt.want == "":
			case !errors.Is(err, codec.ErrNotPOD):
				t.Fatalf("CheckPOD(%v) = %v, want an error wrapping ErrNotPOD", tt.typ, err)
			case err.Error() != tt.want:
				t.Fatalf("CheckPOD(%v) error:\n got: %s\nwant: %s", tt.typ, err, tt.want)
			}
		})
	}
}
