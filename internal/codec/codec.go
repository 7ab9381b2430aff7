package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"sync"
)

// Limits that every decode enforces, so that a message from another process cannot make
// this one allocate without bound or recurse without end. An encode that would produce a
// message beyond them fails too, so a receiver is never sent what it must refuse.
const (
	// MaxMessage is the longest CBOR message, in bytes, that is encoded or decoded. Raw
	// messages are always exactly Codec.Size bytes.
	MaxMessage = 1 << 30

	// MaxDepth is the deepest nesting of CBOR arrays and maps accepted (a tag directly
	// inside a tag counts as a level too): a top-level scalar is depth 0, a struct or a
	// slice of scalars depth 1, a slice of such structs depth 2.
	MaxDepth = 64

	// MaxElements is the most elements one CBOR array, or key-value pairs one CBOR map,
	// may hold. It applies per container, not per message.
	MaxElements = 1 << 24
)

// Errors that a decode wraps; test for them with errors.Is.
var (
	// ErrLimit is wrapped when a message exceeds MaxMessage, MaxDepth or MaxElements.
	ErrLimit = errors.New("codec: limit exceeded")

	// ErrDecode is wrapped when a message is malformed, truncated, has trailing bytes, or
	// does not fit the type it is decoded into.
	ErrDecode = errors.New("codec: malformed input")
)

// Codec encodes and decodes values of one type T, in the encoding For chose for T; get one
// from For. A Codec is immutable and safe for concurrent use by any number of goroutines.
type Codec[T any] struct {
	typ   reflect.Type
	raw   bool
	size  int      // bytes of a raw encoding, -1 for CBOR
	bools []uint64 // bit i set: byte i of a raw value is a bool; nil when T has none
}

// codecs caches one *Codec[T] per reflect.Type of T.
var codecs sync.Map

// bufPool holds the bytes.Buffer headers that CBOR encoding writes through, so that Append
// allocates nothing of its own when dst has room.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// For returns the codec for T: the raw memory copy (fixed Size, no allocation) when
// CheckPOD accepts T, CBOR otherwise. Every call for the same T returns the same *Codec[T].
func For[T any]() *Codec[T] {
	t := reflect.TypeFor[T]()
	if c, ok := codecs.Load(t); ok {
		return c.(*Codec[T])
	}
	c := &Codec[T]{typ: t, size: -1}
	if CheckPOD(t) == nil {
		c.raw = true
		c.size = int(t.Size())
		c.bools = boolBitmap(t)
	}
	got, _ := codecs.LoadOrStore(t, c)
	return got.(*Codec[T])
}

// Raw reports whether c copies values as raw memory rather than encoding them as CBOR.
func (c *Codec[T]) Raw() bool { return c.raw }

// Size returns the length of every encoding when c is raw, and -1 otherwise.
func (c *Codec[T]) Size() int { return c.size }

// Append appends the encoding of *v to dst and returns the extended slice. A raw codec
// appends exactly Size bytes and allocates nothing when dst has room. A CBOR codec fails,
// with an error wrapping ErrLimit, rather than produce a message that Decode would refuse
// for its length, depth or element counts; on any error dst is returned unchanged in
// length.
func (c *Codec[T]) Append(dst []byte, v *T) ([]byte, error) {
	if v == nil {
		return dst, fmt.Errorf("codec: encode %s: nil pointer", c.typ)
	}
	if c.raw {
		return append(dst, bytesOf(v, c.size)...), nil
	}
	if err := checkEncodable(reflect.ValueOf(v).Elem(), c.typ); err != nil {
		return dst, err
	}
	n := len(dst)
	buf := bufPool.Get().(*bytes.Buffer)
	*buf = *bytes.NewBuffer(dst) // write after dst's bytes, into its spare capacity
	err := encMode.MarshalToBuffer(v, buf)
	out := buf.Bytes()
	*buf = bytes.Buffer{} // keep no reference to the caller's memory
	bufPool.Put(buf)
	if err != nil {
		return dst, encodeError(c.typ, err)
	}
	if err := checkEncoded(out[n:], c.typ); err != nil {
		return dst, err
	}
	return out, nil
}

// Decode sets *v to the value that src encodes. A raw codec needs len(src) to equal Size
// exactly and every bool byte to be 0 or 1, and otherwise returns an error wrapping
// ErrDecode without touching *v. A CBOR codec zeroes *v first and then behaves as
// Unmarshal. Decode does not panic whatever src holds, and does not keep src.
func (c *Codec[T]) Decode(src []byte, v *T) error {
	if v == nil {
		return fmt.Errorf("codec: decode %s: nil pointer", c.typ)
	}
	if !c.raw {
		var zero T
		*v = zero
		return decodeCBOR(src, v, c.typ)
	}
	if len(src) != c.size {
		return rawMismatch(src, c.typ, c.size)
	}
	for w, m := range c.bools {
		for ; m != 0; m &= m - 1 {
			i := w*64 + bits.TrailingZeros64(m)
			if src[i] > 1 {
				return fmt.Errorf("%w: decode %s: byte %d holds %d, not a bool", ErrDecode, c.typ, i, src[i])
			}
		}
	}
	copy(bytesOf(v, c.size), src)
	return nil
}
