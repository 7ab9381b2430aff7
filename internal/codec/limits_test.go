package codec_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
)

// header returns a CBOR head of major type major with an 8-byte argument n.
func header(major byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHugeLengthPrefix: a head that claims far more than the message holds fails at once,
// before anything is allocated for it.
func TestHugeLengthPrefix(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		err  error
	}{
		{"array of 2^40", header(4, 1<<40), codec.ErrLimit},
		{"array of MaxElements+1", header(4, codec.MaxElements+1), codec.ErrLimit},
		{"map of 2^40 pairs", header(5, 1<<40), codec.ErrLimit},
		{"array of 2^20, absent", header(4, 1<<20), codec.ErrDecode},
		{"byte string of 2^40", header(2, 1<<40), codec.ErrDecode},
		{"text string of 2^62", header(3, 1<<62), codec.ErrDecode},
		{"array of 2^64-1", header(4, 1<<64-1), codec.ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := append(tt.data, 0, 0, 0, 0) // a few elements' worth
			var err1, err2, err3 error
			start := time.Now()
			n := allocated(func() {
				var s []int
				err1 = codec.Unmarshal(data, &s)
				var a any
				err2 = codec.Unmarshal(data, &a)
				var m map[string]int
				err3 = codec.Unmarshal(data, &m)
			})
			isErr(t, err1, tt.err)
			isErr(t, err2, tt.err)
			if tt.err == codec.ErrLimit {
				isErr(t, err3, tt.err)
			}
			if n > 64<<10 {
				t.Errorf("decoding allocated %d bytes", n)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("decoding took %v", d)
			}
		})
	}
}

// nested returns depth nested CBOR arrays: [[[...[]...]]].
func nested(depth int) []byte {
	b := bytes.Repeat([]byte{0x81}, depth-1)
	return append(b, 0x80)
}

func TestMaxDepth(t *testing.T) {
	var v any
	noErr(t, codec.Unmarshal(nested(codec.MaxDepth), &v))
	isErr(t, codec.Unmarshal(nested(codec.MaxDepth+1), &v), codec.ErrLimit)
	isErr(t, codec.Unmarshal(nested(100_000), &v), codec.ErrLimit)

	// Maps count as levels too, and so do tags on tags (the outermost tag is free).
	deepMap := append(bytes.Repeat([]byte{0xa1, 0x00}, codec.MaxDepth), 0x00)
	noErr(t, codec.Unmarshal(deepMap, &v))
	deepMap = append(bytes.Repeat([]byte{0xa1, 0x00}, codec.MaxDepth+1), 0x00)
	isErr(t, codec.Unmarshal(deepMap, &v), codec.ErrLimit)
	deepTags := append(bytes.Repeat([]byte{0xd8, 0x64}, codec.MaxDepth+2), 0x00) // tag 100
	isErr(t, codec.Unmarshal(deepTags, &v), codec.ErrLimit)

	// The encoder refuses what the decoder would.
	var ok any = []any{}
	for range codec.MaxDepth - 1 {
		ok = []any{ok}
	}
	_, err := codec.Marshal(ok)
	noErr(t, err)
	_, err = codec.Marshal([]any{ok})
	isErr(t, err, codec.ErrLimit)
	var tooDeep any = []any{ok}
	_, err = codec.For[any]().Append(nil, &tooDeep)
	isErr(t, err, codec.ErrLimit)
}

func TestMaxElements(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates hundreds of megabytes")
	}
	b, err := codec.Marshal(make([]bool, codec.MaxElements+1))
	isErr(t, err, codec.ErrLimit)
	if b != nil {
		t.Fatal("Marshal returned a message it refused")
	}
	b, err = codec.Marshal(make([]bool, codec.MaxElements))
	noErr(t, err)
	var s []bool
	noErr(t, codec.Unmarshal(b, &s))
	if len(s) != codec.MaxElements {
		t.Fatalf("decoded %d elements, want %d", len(s), codec.MaxElements)
	}
}

func TestMaxMessage(t *testing.T) {
	// An anonymous mapping costs nothing until its pages are touched, and a decode must
	// refuse on the length alone, before it reads anything.
	big, err := syscall.Mmap(-1, 0, codec.MaxMessage+1, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	noErr(t, err)
	t.Cleanup(func() { noErr(t, syscall.Munmap(big)) })
	big[0] = 0x40 // would be an empty byte string with trailing bytes
	var v any
	isErr(t, codec.Unmarshal(big, &v), codec.ErrLimit)
	var m message
	isErr(t, codec.For[message]().Decode(big, &m), codec.ErrLimit)

	if testing.Short() {
		return // the rest takes seconds and gigabytes
	}
	// A byte string of MaxMessage bytes needs a few more for its head.
	_, err = codec.Marshal(big[:codec.MaxMessage])
	isErr(t, err, codec.ErrLimit)
}
