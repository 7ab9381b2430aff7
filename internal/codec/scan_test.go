package codec

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzScanLimits checks that the fast limit scan never passes a message that the decoder
// refuses for its limits.
func FuzzScanLimits(f *testing.F) {
	head := func(major byte, n uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
	}
	for _, v := range []any{
		nil, 1, "s", []byte{1}, []any{1, []any{2, map[string]any{"a": []int{3}}}},
		benchMsg{ID: 1, Name: "n", Vals: []float64{1, 2}}, mediumMsg(),
	} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(head(4, MaxElements+1))
	f.Add(append(head(5, 1), 0, 0))
	f.Add(append(bytes.Repeat([]byte{0x81}, MaxDepth), 0))   // depth MaxDepth+1
	f.Add(append(bytes.Repeat([]byte{0x81}, MaxDepth-1), 0)) // depth MaxDepth
	f.Add(append(bytes.Repeat([]byte{0xc6}, 3), 0))          // tags on tags
	f.Add([]byte{0x9f, 0x01, 0xff})                          // indefinite
	f.Add([]byte{0x01, 0x02})                                // trailing byte
	f.Fuzz(func(t *testing.T, b []byte) {
		full := decMode.Wellformed(b)
		if err := scanLimits(b); err == nil && full != nil && classify(full) == ErrLimit {
			t.Fatalf("scanLimits passed %x, which the decoder refuses: %v", b, full)
		}
	})
}

func TestScanLimitsAgrees(t *testing.T) {
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n-1), 0x80) }
	tests := []struct {
		name  string
		data  []byte
		limit bool
	}{
		{"depth MaxDepth", deep(MaxDepth), false},
		{"depth MaxDepth+1", deep(MaxDepth + 1), true},
		{"map in arrays too deep", append(bytes.Repeat([]byte{0x81}, MaxDepth), 0xa1, 0, 0), true},
		{"tag then array at MaxDepth", append([]byte{0xc6}, deep(MaxDepth)...), false},
		{"array of MaxElements+1", binary.BigEndian.AppendUint32([]byte{0x9a}, MaxElements+1), true},
		{"map of MaxElements+1", binary.BigEndian.AppendUint32([]byte{0xba}, MaxElements+1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := scanLimits(tt.data)
			if got := err != nil && classify(err) == ErrLimit; got != tt.limit {
				t.Fatalf("scanLimits = %v, want limit error %v", err, tt.limit)
			}
		})
	}
}
