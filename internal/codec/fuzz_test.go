package codec_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
)

// fuzzSeeds are inputs worth starting from: real messages and known attacks. `go test`
// runs FuzzUnmarshal on each of them.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, v := range []any{
		nil, true, -1, uint64(math.MaxUint64), math.NaN(), "text", []byte{1, 2},
		message{ID: 1, Name: "n", Vals: []float64{1, 2, 3, 4}},
		payload{Map: map[string]int{"a": 1}, IntKeys: map[int][]string{1: {"x"}}, Any: []any{1, "a"}},
		map[string]any{"t": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), "l": []any{nil, 1.5}},
		point{1, 2},
	} {
		b, err := codec.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds,
		[]byte{},
		header(4, 1<<40),                                 // array claiming 2^40 elements
		header(5, 1<<40),                                 // map claiming 2^40 pairs
		header(2, 1<<62),                                 // byte string claiming 2^62 bytes
		nested(codec.MaxDepth+1),                         // too deep
		bytes.Repeat([]byte{0x9f}, 200),                  // unterminated indefinite arrays
		[]byte{0x5f, 0x41, 0x00, 0x41, 0x01, 0xff},       // indefinite byte string
		[]byte{0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, // tag 1 (epoch time) of +Inf
		[]byte{0xc1, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // epoch time far away
		[]byte{0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0},                      // bignum 2^64
		[]byte{0xa1, 0x81, 0x00, 0x00},                                     // map keyed by an array
		[]byte{0xa1, 0x41, 0x00, 0x00},                                     // map keyed by a byte string
		[]byte{0xa2, 0x00, 0x00, 0x00, 0x01},                               // duplicate key
		[]byte{0x7f, 0x61, 0xff, 0xff},                                     // text with invalid UTF-8
		[]byte{0xf8, 0x20},                                                 // simple value 32
		make([]byte, 64),                                                   // a raw pod64
	)
}

// FuzzUnmarshal feeds arbitrary bytes to every decoding path: they must fail cleanly or
// succeed, never panic or hang. What decodes into any is encoded again, which must not
// panic either; it may fail, for a time.Time outside the years RFC 3339 can write
// (testdata/fuzz holds such an input).
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a any
		if err := codec.Unmarshal(data, &a); err == nil {
			if b, err := codec.Marshal(a); err == nil {
				_ = codec.Unmarshal(b, &a)
			}
		}
		var m message
		_ = codec.For[message]().Decode(data, &m)
		var p payload
		_ = codec.For[payload]().Decode(data, &p)
		var mm map[string][]int
		_ = codec.Unmarshal(data, &mm)
		var tm time.Time
		_ = codec.Unmarshal(data, &tm)
		var s string
		_ = codec.Unmarshal(data, &s)
		var arr [4]int8
		_ = codec.Unmarshal(data, &arr)
		var r pod64
		_ = codec.For[pod64]().Decode(data, &r)
	})
}
