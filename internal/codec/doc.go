// Package codec is the one codec every shmkit package uses to move Go values between
// processes: process start arguments, typed queue messages, pool tasks and results, managed
// dict values. Its input comes from other processes and is treated as untrusted: decoding
// never panics, never allocates from a length prefix that the input does not back with
// bytes, and enforces the limits below.
//
// # Two encodings
//
// For[T] picks one of two encodings for a type, once:
//
//   - Raw, when CheckPOD accepts T (numbers, bools, arrays and structs of those): the
//     encoding is the value's memory, exactly Size() bytes, in the host's native layout and
//     byte order (little-endian on amd64 and arm64), padding included. It costs one copy and
//     no allocation. It is meant for processes on the same machine running the same
//     program: it carries no type information, and a reader built with a different
//     definition of T, or on another architecture, reads garbage. Decode checks the length
//     and that every bool byte holds 0 or 1; every other bit pattern is a valid value.
//     Padding bytes are copied as memory holds them, so two equal values of a type with
//     padding may encode differently: do not compare or hash raw encodings of such types.
//
//   - CBOR (RFC 8949, via github.com/fxamacker/cbor/v2) for every other type. Each message
//     is self-contained: it needs no type description sent earlier, so any message can be
//     decoded alone, by any process, in any order.
//
// Marshal and Unmarshal, for values whose type is only known at run time, always use CBOR.
//
// # CBOR as shmkit writes it
//
//   - Structs are maps keyed by field name (`cbor` and `json` struct tags honoured). Keys in
//     the input that match no field are ignored; fields missing from the input keep their
//     zero value.
//   - A value crosses whole or not at all. CBOR can only send exported fields, so encoding a
//     struct with an unexported field fails, naming the field, rather than deliver the
//     struct with that field zeroed; tag the field `cbor:"-"` to leave it behind on purpose
//     (blank `_` fields and empty ones are left behind without a tag). So do chans, funcs,
//     unsafe.Pointers, complex numbers and uintptrs, wherever they sit, interfaces' dynamic
//     values included. These errors match errors.ErrUnsupported. Types the library encodes
//     by their own methods (time.Time, big.Int, cbor.Marshaler and
//     encoding.BinaryMarshaler implementations) are not looked into. The raw encoding
//     copies every byte, unexported fields included, so it needs no such rule.
//   - Map keys and struct fields are sorted (bytewise lexical order of their encodings,
//     RFC 8949 §4.2.1), so equal values encode to equal bytes, as long as they hold no
//     NaN payloads and no time.Time values that are equal instants in different zones.
//   - nil slices and maps encode as null and decode as nil; empty ones stay empty.
//   - time.Time encodes as tag 0 (RFC 3339 text with nanoseconds and the zone offset);
//     the zero time encodes as null. A decoded time has the right instant and offset but a
//     fixed zone (the location name and the monotonic clock reading are not sent): compare
//     times with Time.Equal. RFC 3339 has four-digit years: a time outside years 0 to
//     9999 encodes, but no decoder accepts it.
//   - CBOR has no complex numbers, and the library refuses uintptr: a value holding either
//     fails to encode with CBOR (Marshal, or For of a type that is not POD). A POD type
//     holding them travels raw through For.
//   - Strings are sent byte for byte; text that is not valid UTF-8 is accepted on decode,
//     because a Go string may hold any bytes.
//
// # Decoding into any
//
// A CBOR value decoded into an interface (an `any` target, or an `any` field) becomes a
// natural Go value, in the spirit of Python's types:
//
//	integer                 int64, or big.Int when it does not fit in an int64
//	floating point          float64
//	text string             string
//	byte string             []byte
//	array                   []any
//	map                     map[any]any (keys keep their types, as in a Python dict)
//	bool, null              bool, nil
//	tag 0 or 1 (time)       time.Time
//	other tags              cbor.Tag
//
// Map keys keep their own types, so a map[int]string sent as any comes back keyed by
// int64, and a struct sent as any comes back as a map[any]any keyed by field-name strings
// (index it with m["Name"]). Keys that Go cannot hash once decoded (arrays, maps, byte
// strings) make the decode fail; decode such values into their concrete type instead.
//
// # Reading a message as the wrong type
//
// A raw message carries no type, and a CBOR one only the shape of its values, so a message
// read as a type other than the one it was written for is found only when its shape does
// not fit. The error (wrapping ErrDecode) then says what the message holds and what it was
// decoded into, for example
//
//	codec: message holds a string (6 bytes of CBOR), decoding into int: a raw int is 8 bytes: the message was written as another type
//	codec: message holds an integer, decoding into main.T (field Name): a string cannot hold it
//
// A raw message of the right length is always accepted: an int64 read as a float64 is not
// detected.
//
// # Limits
//
// Decoding (and, so that no receiver is sent what it would refuse, encoding) refuses a
// CBOR message longer than MaxMessage bytes, nested deeper than MaxDepth, or with an array
// or map holding more than MaxElements entries; the error wraps ErrLimit. Malformed input
// gives an error wrapping ErrDecode. Because every element takes at least one byte of
// input, what a decode allocates is bounded by the input's length times the size of the
// Go element type it decodes into.
//
// # Caveats
//
//   - Encoding a value whose pointers form a cycle recurses without end and crashes the
//     process (as encoding/gob does); shmkit values are trees.
//   - Decode and Unmarshal first zero the destination, then fill it, so the result never
//     depends on what it held; after an error the destination may be partly filled.
package codec
