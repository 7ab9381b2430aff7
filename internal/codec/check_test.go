package codec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
)

// hasAll fails t unless err wraps target and its message holds every one of parts.
func hasAll(t *testing.T, err, target error, parts ...string) {
	t.Helper()
	isErr(t, err, target)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// TestWrongTypeSaysSo reads messages as a type other than the one they were written for: the
// error says what the message holds and what it was decoded into, not only that it is
// malformed.
func TestWrongTypeSaysSo(t *testing.T) {
	s := "hello"
	str, err := codec.For[string]().Append(nil, &s)
	noErr(t, err)
	var n int
	hasAll(t, codec.For[int]().Decode(str, &n), codec.ErrDecode,
		"message holds a string", "decoding into int", "written as another type")
	hasAll(t, codec.For[int]().Decode([]byte{1, 2, 3}, &n), codec.ErrDecode,
		"message holds 3 bytes", "decoding into int", "a raw int is 8 bytes")

	i := 5
	raw, err := codec.For[int]().Append(nil, &i)
	noErr(t, err)
	var got string
	hasAll(t, codec.For[string]().Decode(raw, &got), codec.ErrDecode,
		"message holds an integer followed by more bytes", "decoding into string")

	hasAll(t, codec.Unmarshal(str, &n), codec.ErrDecode, "message holds a string, decoding into int")
	f, err := codec.Marshal(2.5)
	noErr(t, err)
	hasAll(t, codec.Unmarshal(f, &n), codec.ErrDecode, "message holds a float, decoding into int")
	big, err := codec.Marshal(300)
	noErr(t, err)
	var i8 int8
	hasAll(t, codec.Unmarshal(big, &i8), codec.ErrDecode, "message holds an integer, decoding into int8", "300 overflows int8")

	m, err := codec.Marshal(message{ID: 1, Name: "x"})
	noErr(t, err)
	var wrong struct{ ID string }
	hasAll(t, codec.Unmarshal(m, &wrong), codec.ErrDecode, "message holds an integer", "(field ID)")
}

// TestUnexportedFieldsRefused: a value crosses whole or not at all. CBOR sends exported fields
// only, so a type with unexported fields is refused at encode (naming the field) instead of
// arriving with them zeroed; the raw encoding copies every byte, so it keeps them.
func TestUnexportedFieldsRefused(t *testing.T) {
	type withString struct {
		Name   string
		secret int
	}
	type numbersOnly struct {
		X      int
		secret int
	}
	type nested struct {
		Items []withString
	}
	type optedOut struct {
		Name  string
		cache map[string]int `cbor:"-"`
		_     [4]byte
		none  struct{}
	}
	ws := withString{"a", 7}
	_, err := codec.For[withString]().Append(nil, &ws)
	hasAll(t, err, errors.ErrUnsupported, "withString", "field secret is unexported")
	_, err = codec.Marshal(ws)
	hasAll(t, err, errors.ErrUnsupported, "field secret is unexported")
	_, err = codec.Marshal(nested{Items: []withString{ws}})
	hasAll(t, err, errors.ErrUnsupported, "field Items[0].secret is unexported")
	_, err = codec.Marshal(map[string]any{"k": ws})
	hasAll(t, err, errors.ErrUnsupported, "element [k].secret is unexported")
	_, err = codec.Marshal(&ws)
	hasAll(t, err, errors.ErrUnsupported, "field secret is unexported")
	// A nil pointer to such a type, or an empty slice of it, loses nothing.
	noErr(t, errOf(codec.Marshal((*withString)(nil))))
	noErr(t, errOf(codec.Marshal(nested{Items: []withString{}})))
	// Marshal always writes CBOR, even for a type For would copy raw: refused there too.
	_, err = codec.Marshal(numbersOnly{1, 2})
	hasAll(t, err, errors.ErrUnsupported, "field secret is unexported")

	// The raw encoding keeps them.
	raw := roundTripCodec(t, numbersOnly{1, 2})
	equal(t, raw, numbersOnly{1, 2})

	// A field tagged "-", a blank field and an empty one are left behind without complaint.
	in := optedOut{Name: "n", cache: map[string]int{"a": 1}, none: struct{}{}}
	out := roundTripCodec(t, in)
	equal(t, out, optedOut{Name: "n"})

	// Types the library encodes by their own methods are not looked into.
	now := time.Now()
	tm := roundTripCodec(t, struct{ When time.Time }{now})
	if !tm.When.Equal(now) {
		t.Fatalf("time %v came back as %v", now, tm.When)
	}

	// Parts CBOR cannot carry at all are named too.
	_, err = codec.Marshal([]any{1, struct{ Done chan int }{}})
	hasAll(t, err, errors.ErrUnsupported, "element [1].Done is a chan int")
	_, err = codec.Marshal(struct{ F func() }{})
	hasAll(t, err, errors.ErrUnsupported, "field F is a func()")
}

func errOf(_ []byte, err error) error { return err }
