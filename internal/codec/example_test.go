package codec_test

import (
	"fmt"

	"github.com/shmkit/shmkit/internal/codec"
)

func ExampleFor() {
	// A pointer-free type is copied as raw memory: fixed size, no allocation.
	type Sample struct {
		T    int64
		X, Y float32
	}
	raw := codec.For[Sample]()
	b, _ := raw.Append(nil, &Sample{T: 1, X: 0.5, Y: -2})
	var s Sample
	_ = raw.Decode(b, &s)
	fmt.Println(raw.Raw(), raw.Size(), len(b), s)

	// Anything else is CBOR, one self-contained message per value.
	type Task struct {
		ID   int
		Args []string
	}
	cb := codec.For[Task]()
	b, _ = cb.Append(nil, &Task{ID: 7, Args: []string{"a", "b"}})
	var task Task
	_ = cb.Decode(b, &task)
	fmt.Println(cb.Raw(), cb.Size(), task)

	// Decoding into any gives Python-like values.
	var v any
	_ = codec.Unmarshal(b, &v)
	fmt.Println(v)

	// A truncated message is refused, never half-read.
	err := cb.Decode(b[:len(b)-1], &task)
	fmt.Println(err)
	// Output:
	// true 16 16 {1 0.5 -2}
	// false -1 {7 [a b]}
	// map[Args:[a b] ID:7]
	// codec: malformed input: decode codec_test.Task: unexpected EOF
}
