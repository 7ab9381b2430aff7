package codec

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// encMode and decMode are the one CBOR dialect shmkit writes and reads; see the package
// documentation for what they promise.
var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Sort:          cbor.SortBytewiseLexical, // equal values, equal bytes
		Time:          cbor.TimeRFC3339Nano,     // exact to the nanosecond, keeps the offset
		TimeTag:       cbor.EncTagRequired,      // so an any target gets a time.Time back
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsNull, // nil stays nil, empty stays empty
	}.UserBufferEncMode()
	if err != nil {
		panic("codec: bad CBOR encode options: " + err.Error())
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  MaxDepth,
		MaxArrayElements: MaxElements,
		MaxMapPairs:      MaxElements,
		IntDec:           cbor.IntDecConvertSignedOrBigInt, // any: int64, big.Int past it
		DefaultMapType:   reflect.TypeFor[map[any]any](),
		UTF8:             cbor.UTF8DecodeInvalid, // a Go string may hold any bytes
	}.DecMode()
	if err != nil {
		panic("codec: bad CBOR decode options: " + err.Error())
	}
}

// Marshal returns the CBOR encoding of v, for values whose type is only known at run time.
// It always uses CBOR, even for types that For would copy raw, so the result describes
// itself. It fails, with an error wrapping ErrLimit, rather than produce a message that
// Unmarshal would refuse for its length, and it fails for values CBOR cannot hold (chans,
// funcs, complex numbers).
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: encode %T: %w", v, err)
	}
	if err := checkEncoded(b, reflect.TypeOf(v)); err != nil {
		return nil, err
	}
	return b, nil
}

// Unmarshal decodes the CBOR message data, as Marshal or a CBOR Codec writes it, into the
// value v points to, after setting that value to its zero value. v must be a non-nil
// pointer. data must hold exactly one CBOR item. Unmarshal enforces MaxMessage, MaxDepth
// and MaxElements (errors wrap ErrLimit), reports malformed or mistyped input with an
// error wrapping ErrDecode, and does not panic whatever data holds.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("codec: Unmarshal needs a non-nil pointer, not %T", v)
	}
	rv.Elem().SetZero()
	return decodeCBOR(data, v, rv.Type().Elem())
}

// checkEncoded refuses an encoding b of a value of type t, just made, that a decoder would
// refuse for its length, depth or element counts.
func checkEncoded(b []byte, t reflect.Type) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("%w: encode %v: %d bytes, more than MaxMessage (%d)", ErrLimit, t, len(b), MaxMessage)
	}
	if err := decMode.Wellformed(b); err != nil {
		return fmt.Errorf("%w: encode %v: %w", classify(err), t, err)
	}
	return nil
}

// decodeCBOR decodes data into v, a non-nil pointer to a value of type t, and wraps any
// error in ErrLimit or ErrDecode.
func decodeCBOR(data []byte, v any, t reflect.Type) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("%w: decode %s: %d bytes, more than MaxMessage (%d)", ErrLimit, t, len(data), MaxMessage)
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decode %s: %w", classify(err), t, err)
	}
	return nil
}

// classify returns ErrLimit for the CBOR library's errors that report a limit, ErrDecode
// for all others.
func classify(err error) error {
	var (
		depth *cbor.MaxNestedLevelError
		elems *cbor.MaxArrayElementsError
		pairs *cbor.MaxMapPairsError
	)
	if errors.As(err, &depth) || errors.As(err, &elems) || errors.As(err, &pairs) {
		return ErrLimit
	}
	return ErrDecode
}
