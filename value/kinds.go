package value

import (
	"fmt"
	"reflect"

	"github.com/shmkit/shmkit/shm"
)

// Every Value[T], RawValue[T], Array[T] and RawArray[T] is a heap block of its own kind, named
// "value.Value[T]" and so on with T spelled by its package path ("value.Array[float64]",
// "value.Value[example.com/m.Point]"), registered when T is first used. A child process
// receiving one as a start argument rebuilds it from the target's parameter type (AttachRef), so
// no registration is needed for that. Only shm.Rebuild, which knows nothing but the Ref, needs
// the kind registered beforehand; this package registers bool and every predeclared numeric type
// at start-up, and Register does it for others.

// kindSet holds the four kinds of one element type.
type kindSet struct {
	value, raw, array, rawArray shm.Kind
}

func init() {
	infoOf[bool]()
	infoOf[int]()
	infoOf[int8]()
	infoOf[int16]()
	infoOf[int32]()
	infoOf[int64]()
	infoOf[uint]()
	infoOf[uint8]()
	infoOf[uint16]()
	infoOf[uint32]()
	infoOf[uint64]()
	infoOf[uintptr]()
	infoOf[float32]()
	infoOf[float64]()
	infoOf[complex64]()
	infoOf[complex128]()
}

// Register registers the kinds of T's Values and Arrays now, so that shm.Rebuild can rebuild
// them from a bare Ref, and reports whether T can be stored (nil, or an error wrapping ErrType).
// Passing Values and Arrays to child processes as start arguments does not need it. For
// shm.Rebuild in a child, call it from a package-level variable:
//
//	var _ = value.Register[Point]()
//
// Registering a T twice is harmless.
func Register[T any]() error { return infoOf[T]().err }

// typeName spells t with full package paths, so that two types of the same name in different
// packages get different kinds.
func typeName(t reflect.Type) string {
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// registerKinds registers the four kinds of T. shm.RegisterKind panics on a name registered
// twice or a hash collision; that is turned into an error here.
func registerKinds[T any](t reflect.Type) (ks kindSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: cannot register %v: %v", ErrType, t, r)
		}
	}()
	n := typeName(t)
	ks.value = shm.RegisterKind("value.Value["+n+"]", func(r shm.Ref) (any, error) { return OpenValue[T](r) })
	ks.raw = shm.RegisterKind("value.RawValue["+n+"]", func(r shm.Ref) (any, error) { return OpenRawValue[T](r) })
	ks.array = shm.RegisterKind("value.Array["+n+"]", func(r shm.Ref) (any, error) { return OpenArray[T](r) })
	ks.rawArray = shm.RegisterKind("value.RawArray["+n+"]", func(r shm.Ref) (any, error) { return OpenRawArray[T](r) })
	return ks, nil
}

// AttachRef makes the zero Value v a handle on the Value that ref names, as OpenValue does. It
// is how package proc rebuilds a child's *Value[T] parameter, for any T, without registration.
func (v *Value[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenValue[T](ref)
	if err == nil {
		*v = *o
	}
	return err
}

// AttachRef makes the zero RawValue v a handle on the RawValue that ref names; see
// Value.AttachRef.
func (v *RawValue[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenRawValue[T](ref)
	if err == nil {
		*v = *o
	}
	return err
}

// AttachRef makes the zero Array a a handle on the Array that ref names; see Value.AttachRef.
func (a *Array[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenArray[T](ref)
	if err == nil {
		*a = *o
	}
	return err
}

// AttachRef makes the zero RawArray a a handle on the RawArray that ref names; see
// Value.AttachRef.
func (a *RawArray[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenRawArray[T](ref)
	if err == nil {
		*a = *o
	}
	return err
}
