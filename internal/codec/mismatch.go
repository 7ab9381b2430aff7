package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// A mismatchError reports a message that holds something other than what the type it is decoded
// into needs: most often a message written for one type and read as another. It wraps ErrDecode.
type mismatchError struct {
	typ    reflect.Type
	holds  string // what the message holds, in Go words: "a string", "12 bytes"
	field  string // the struct field being filled, if any
	detail string // more, from the CBOR library ("300 overflows int8")
	hint   string
}

func (e *mismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "codec: message holds %s, decoding into %v", e.holds, e.typ)
	if e.field != "" {
		fmt.Fprintf(&b, " (field %s)", e.field)
	}
	if e.detail != "" {
		fmt.Fprintf(&b, ": %s", e.detail)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, ": %s", e.hint)
	}
	return b.String()
}

func (e *mismatchError) Unwrap() error { return ErrDecode }

// rawMismatch describes src, of the wrong length for a raw value of type t (size bytes).
func rawMismatch(src []byte, t reflect.Type, size int) error {
	e := &mismatchError{typ: t, hint: fmt.Sprintf("a raw %v is %d bytes: the message was written as another type", t, size)}
	if len(src) > 0 && decMode.Wellformed(src) == nil {
		e.holds = fmt.Sprintf("%s (%d bytes of CBOR)", headPhrase(src), len(src))
	} else {
		e.holds = fmt.Sprintf("%d bytes", len(src))
	}
	return e
}

// cborMismatch turns the CBOR library's type errors about data, decoded into t, into a
// mismatchError, and returns nil for other errors.
func cborMismatch(err error, data []byte, t reflect.Type) error {
	var te *cbor.UnmarshalTypeError
	var extra *cbor.ExtraneousDataError
	switch {
	case errors.As(err, &te):
		// The library names the field as its struct type, a dot, and its name.
		field := te.StructFieldName[strings.LastIndexByte(te.StructFieldName, '.')+1:]
		e := &mismatchError{typ: t, field: field, holds: libPhrase(te.CBORType)}
		if te.GoType != t.String() {
			e.detail = "a " + te.GoType + " cannot hold it"
		}
		if i := strings.LastIndex(te.Error(), " ("); i >= 0 && strings.HasSuffix(te.Error(), ")") {
			e.detail = strings.TrimSuffix(te.Error()[i+2:], ")")
		}
		// The library says "primitives" for bools, nulls and floats alike: the message's first
		// byte says which, when the mismatch is the message's own top-level value.
		if te.StructFieldName == "" && te.GoType == t.String() && len(data) > 0 && majorName(data[0]>>5) == te.CBORType {
			e.holds = headPhrase(data)
		}
		return e
	case errors.As(err, &extra):
		return &mismatchError{typ: t, holds: headPhrase(data) + " followed by more bytes",
			hint: "a message holds one CBOR value: it was written as another type (raw bytes of a pointer-free type?) or is corrupt"}
	}
	return nil
}

// majorName is the CBOR library's name for a major type.
func majorName(major byte) string {
	return [8]string{"positive integer", "negative integer", "byte string", "UTF-8 text string", "array", "map", "tag", "primitives"}[major&7]
}

// libPhrase puts the CBOR library's name for a type of CBOR value in Go words.
func libPhrase(cborType string) string {
	switch cborType {
	case "positive integer", "negative integer":
		return "an integer"
	case "byte string":
		return "bytes"
	case "UTF-8 text string":
		return "a string"
	case "array":
		return "a list (a slice or array)"
	case "map":
		return "a map (a map or struct)"
	case "tag":
		return "a tagged value (a time, a big integer)"
	case "primitives":
		return "a bool, a null or a float"
	}
	return cborType
}

// headPhrase says, in Go words, what the CBOR value that b starts with is.
func headPhrase(b []byte) string {
	switch major, ai := b[0]>>5, b[0]&31; major {
	case 6:
		if ai <= 1 {
			return "a time"
		}
		return "a tagged value"
	case 7:
		switch ai {
		case 20, 21:
			return "a bool"
		case 22, 23:
			return "a null"
		case 25, 26, 27:
			return "a float"
		}
		return "a simple value"
	default:
		return libPhrase(majorName(major))
	}
}
