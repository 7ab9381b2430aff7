package codec

import (
	"encoding"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// An unsupportedError reports a part of a value that the CBOR encoding cannot carry whole: an
// unexported field (which CBOR would silently leave behind), a chan, a func, an unsafe.Pointer,
// a complex number or a uintptr. It matches errors.ErrUnsupported.
type unsupportedError struct {
	typ  reflect.Type // the type being encoded
	path string       // where in it: "" for the value itself, "Inner.Name", "[*].Done"
	why  string
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("codec: cannot encode %v: %s %s", e.typ, where(e.path), e.why)
}

func (e *unsupportedError) Unwrap() error { return errors.ErrUnsupported }

// where names the part of a value that path leads to, for messages: "it", "field Inner.Name",
// "element [0]".
func where(path string) string {
	switch {
	case path == "":
		return "it"
	case path[0] == '[':
		return "element " + path
	default:
		return "field " + path
	}
}

// typeCheck is what checkType found for a type: the first part of it that cannot be encoded,
// and whether values of it may hold interfaces, whose dynamic contents need checking too.
type typeCheck struct {
	path, why string
	bad       bool
	dynamic   bool
}

var checked sync.Map // reflect.Type -> typeCheck

// Types the CBOR library encodes through their own methods or specially: their fields are none
// of our business.
var (
	cborMarshalerType   = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	special             = map[reflect.Type]bool{
		reflect.TypeFor[time.Time]():        true,
		reflect.TypeFor[big.Int]():          true,
		reflect.TypeFor[cbor.Tag]():         true,
		reflect.TypeFor[cbor.RawTag]():      true,
		reflect.TypeFor[cbor.RawMessage]():  true,
		reflect.TypeFor[cbor.ByteString]():  true,
		reflect.TypeFor[cbor.SimpleValue](): true,
	}
)

// checkType reports the first part of t that the CBOR encoding cannot carry whole, by a static
// look at the type (cached), and whether its values may hold interfaces.
func checkType(t reflect.Type) typeCheck {
	if c, ok := checked.Load(t); ok {
		return c.(typeCheck)
	}
	c := checkTypeIn(t, "", map[reflect.Type]bool{})
	checked.Store(t, c)
	return c
}

func checkTypeIn(t reflect.Type, path string, seen map[reflect.Type]bool) typeCheck {
	if special[t] || reflect.PointerTo(t).Implements(cborMarshalerType) || reflect.PointerTo(t).Implements(binaryMarshalerType) {
		return typeCheck{}
	}
	if seen[t] { // a recursive type: its parts are being checked further up
		return typeCheck{}
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128, reflect.Uintptr:
		return typeCheck{path: path, bad: true, why: fmt.Sprintf("is a %v, which CBOR cannot carry", t)}
	case reflect.Interface:
		return typeCheck{dynamic: true}
	case reflect.Pointer, reflect.Slice, reflect.Map:
		// A nil pointer, an empty slice or map loses nothing: what they point to or hold is
		// checked in the values, when there is some.
		c := checkTypeIn(t.Elem(), path, seen)
		if t.Kind() == reflect.Map {
			k := checkTypeIn(t.Key(), path, seen)
			c.bad, c.dynamic = c.bad || k.bad, c.dynamic || k.dynamic
		}
		return typeCheck{dynamic: c.bad || c.dynamic}
	case reflect.Array:
		return checkTypeIn(t.Elem(), path+"[*]", seen)
	case reflect.Struct:
		seen[t] = true
		defer delete(seen, t)
		var out typeCheck
		for i := range t.NumField() {
			f := t.Field(i)
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if LeftBehind(f) {
				continue
			}
			if !f.IsExported() {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				switch {
				case f.Anonymous && ft.Kind() == reflect.Struct:
					// An embedded struct of an unexported type: its exported fields are
					// promoted and sent; check them (and refuse its unexported ones).
				case f.Type.Size() == 0:
					continue // holds nothing, loses nothing
				default:
					return typeCheck{path: p, bad: true,
						why: "is unexported, and CBOR sends exported fields only: export it, or tag it `cbor:\"-\"` to leave it behind on purpose"}
				}
			}
			c := checkTypeIn(f.Type, p, seen)
			if c.bad {
				return c
			}
			out.dynamic = out.dynamic || c.dynamic
		}
		return out
	}
	return typeCheck{}
}

// LeftBehind reports whether the CBOR encoding leaves struct field f behind on purpose: a blank
// `_` field, or one tagged `cbor:"-"` (or `json:"-"` when it has no cbor tag), as the CBOR
// library reads tags.
func LeftBehind(f reflect.StructField) bool {
	if f.Name == "_" {
		return true
	}
	tag, ok := f.Tag.Lookup("cbor")
	if !ok || tag == "" {
		tag = f.Tag.Get("json")
	}
	name, _, _ := strings.Cut(tag, ",")
	return name == "-"
}

// checkEncodable returns an error matching errors.ErrUnsupported when v (of type t) holds a part
// that the CBOR encoding cannot carry whole, naming the first such part. The type is checked
// once; a value is walked only where its type cannot say alone: behind interfaces, and behind
// pointers, slices and maps to parts that cannot be encoded (a nil pointer loses nothing).
func checkEncodable(v reflect.Value, t reflect.Type) error {
	if !v.IsValid() {
		return nil
	}
	c := checkType(t)
	if c.bad {
		return &unsupportedError{typ: t, path: c.path, why: c.why}
	}
	if !c.dynamic {
		return nil
	}
	if path, why, bad := walkDynamic(v, "", 0); bad {
		return &unsupportedError{typ: t, path: path, why: why}
	}
	return nil
}

// walkDynamic looks into what v holds behind interfaces, pointers, slices and maps, where its
// type alone does not say whether it can be encoded. depth bounds the walk as the encoder's
// MaxDepth bounds the message.
func walkDynamic(v reflect.Value, path string, depth int) (string, string, bool) {
	t := v.Type()
	c := checkType(t)
	if c.bad {
		return join(path, c.path), c.why, true
	}
	if !c.dynamic || depth > MaxDepth { // past MaxDepth the limit check refuses the message
		return "", "", false
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			return walkDynamic(v.Elem(), path, depth)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p, why, bad := walkDynamic(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); bad {
				return p, why, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if p, why, bad := walkDynamic(it.Key(), path+"[key]", depth+1); bad {
				return p, why, true
			}
			if p, why, bad := walkDynamic(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); bad {
				return p, why, true
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); LeftBehind(f) || !f.IsExported() && !f.Anonymous {
				continue
			}
			if p, why, bad := walkDynamic(v.Field(i), join(path, t.Field(i).Name), depth+1); bad {
				return p, why, true
			}
		}
	}
	return "", "", false
}

// join appends a field name or an element path to a path.
func join(path, next string) string {
	switch {
	case path == "":
		return next
	case next == "":
		return path
	case next[0] == '[':
		return path + next
	}
	return path + "." + next
}
