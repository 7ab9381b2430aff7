package codec

import (
	"encoding/binary"
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
// Unmarshal would refuse for its length, depth or element counts, and it fails for values
// CBOR cannot hold (chans, funcs, complex numbers, uintptr).
func Marshal(v any) ([]byte, error) {
	if err := checkEncodable(reflect.ValueOf(v), reflect.TypeOf(v)); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, encodeError(reflect.TypeOf(v), err)
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
	if err := scanLimits(b); err != nil {
		return fmt.Errorf("%w: encode %v: %w", classify(err), t, err)
	}
	return nil
}

// scanLimits returns the error the decoder would give b for its depth or element counts,
// or nil. It reads only the heads of b's items, which is several times faster than the
// decoder's full well-formedness check, and hands anything it does not expect from this
// package's encoder (indefinite lengths, a tag on a tag, truncation, trailing bytes) or
// any limit it sees broken to that check, so its answer is always the decoder's.
func scanLimits(b []byte) error {
	full := func() error { return decMode.Wellformed(b) }
	var left [MaxDepth + 1]uint64 // left[d]: items still to read in the container at depth d
	d, off := 0, 0
	left[0] = 1 // the message is one item
	for off < len(b) {
		if d == 0 && left[0] == 0 {
			return full() // trailing bytes
		}
		major, ai := b[off]>>5, b[off]&31
		off++
		arg := uint64(ai)
		if ai >= 24 {
			if ai > 27 { // indefinite length, or reserved
				return full()
			}
			n := 1 << (ai - 24) // 1, 2, 4 or 8 bytes of argument follow
			if len(b)-off < n {
				return full()
			}
			if major >= 2 && major <= 5 { // a length: needed
				switch p := b[off:]; n {
				case 1:
					arg = uint64(p[0])
				case 2:
					arg = uint64(binary.BigEndian.Uint16(p))
				case 4:
					arg = uint64(binary.BigEndian.Uint32(p))
				default:
					arg = binary.BigEndian.Uint64(p)
				}
			}
			off += n
		}
		left[d]--
		switch major {
		case 2, 3: // byte and text strings: skip the content
			if arg > uint64(len(b)-off) {
				return full()
			}
			off += int(arg)
		case 4, 5: // array, map: one level deeper
			if arg > MaxElements || d == MaxDepth {
				return full()
			}
			d++
			left[d] = arg
			if major == 5 {
				left[d] = 2 * arg
			}
		case 6: // tag: its content is read in its place
			if off < len(b) && b[off]>>5 == 6 {
				return full()
			}
			left[d]++
		}
		for d > 0 && left[d] == 0 {
			d--
		}
	}
	if d != 0 || left[0] != 0 {
		return full() // truncated
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
		if m := cborMismatch(err, data, t); m != nil {
			return m
		}
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

// encodeError wraps an error of the CBOR library's encoder for a value of type t; one saying
// that a type or value is not supported matches errors.ErrUnsupported too.
func encodeError(t reflect.Type, err error) error {
	var ut *cbor.UnsupportedTypeError
	var uv *cbor.UnsupportedValueError
	if errors.As(err, &ut) || errors.As(err, &uv) {
		return fmt.Errorf("codec: encode %v: %w (%w)", t, err, errors.ErrUnsupported)
	}
	return fmt.Errorf("codec: encode %v: %w", t, err)
}
