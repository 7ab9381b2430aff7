package shm

import (
	"encoding/binary"
	"testing"

	"github.com/shmkit/shmkit/internal/pids"
)

// validHeader returns the first bytes of a well-formed segment of the given size.
func validHeader(size uint64) []byte {
	b := make([]byte, offHeads)
	binary.LittleEndian.PutUint64(b[offMagic:], magic)
	binary.LittleEndian.PutUint32(b[offVersion:], Version)
	binary.LittleEndian.PutUint32(b[offHdrSize:], HeaderSize)
	binary.LittleEndian.PutUint64(b[offSize:], size)
	binary.LittleEndian.PutUint64(b[offID:], 0x1234567)
	binary.LittleEndian.PutUint32(b[offCreator:], 4242)
	binary.LittleEndian.PutUint32(b[offFlags:], flagNamed)
	binary.LittleEndian.PutUint64(b[offBump:], HeaderSize)
	return b
}

func TestParseHeader(t *testing.T) {
	const size = 1 << 20
	mut := func(f func(b []byte)) []byte { b := validHeader(size); f(b); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		file int64
		want error
	}{
		{"valid", validHeader(size), size, nil},
		{"empty file", nil, 0, ErrNotSegment},
		{"short file", make([]byte, 10), 10, ErrNotSegment},
		{"zero magic", mut(func(b []byte) { binary.LittleEndian.PutUint64(b, 0) }), size, ErrNotReady},
		{"wrong magic", mut(func(b []byte) { b[0] = 'X' }), size, ErrNotSegment},
		{"other version", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[offVersion:], 99) }), size, ErrVersion},
		{"header size", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[offHdrSize:], 64) }), size, ErrCorrupt},
		{"file shorter than header says", validHeader(size), size / 2, ErrTruncated},
		{"file longer than header says", validHeader(size), size * 2, ErrCorrupt},
		{"size below minimum", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[offSize:], 4096) }), 4096, ErrCorrupt},
		{"size not a multiple of 64", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[offSize:], size-1) }), size - 1, ErrCorrupt},
		{"pid zero", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[offCreator:], 0) }), size, ErrCorrupt},
		{"pid too large", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[offCreator:], 1<<30) }), size, ErrCorrupt},
		{"unknown flags", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[offFlags:], 0x80) }), size, ErrCorrupt},
		{"bump below header", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[offBump:], 64) }), size, ErrCorrupt},
		{"bump past end", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[offBump:], size+64) }), size, ErrCorrupt},
		{"bump unaligned", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[offBump:], HeaderSize+8) }), size, ErrCorrupt},
		{"cut short", validHeader(size)[:64], size, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseHeader(tc.b, tc.file)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("parseHeader: %v", err)
				}
				return
			}
			if !errorsIs(err, tc.want) {
				t.Fatalf("parseHeader: %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParseHeader checks that no bytes make parseHeader panic, and that whatever it accepts
// satisfies the invariants later code relies on.
func FuzzParseHeader(f *testing.F) {
	f.Add(validHeader(1<<20), int64(1<<20))
	f.Add(validHeader(MinSize), int64(MinSize))
	f.Add([]byte{}, int64(0))
	f.Add(make([]byte, 200), int64(-1))
	f.Add(validHeader(1 << 20)[:70], int64(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, fileSize int64) {
		h, err := parseHeader(b, fileSize)
		if err != nil {
			return
		}
		if h.size != uint64(fileSize) || h.size < MinSize || h.size > MaxSize || h.size%unit != 0 {
			t.Fatalf("accepted size %d for a %d-byte file", h.size, fileSize)
		}
		if h.bump < HeaderSize || h.bump > h.size || h.bump%unit != 0 {
			t.Fatalf("accepted bump %d", h.bump)
		}
		if h.creator == 0 || h.creator > pids.Max {
			t.Fatalf("accepted creator %d", h.creator)
		}
	})
}

func TestClasses(t *testing.T) {
	prev := uint64(0)
	for c := 0; c < numClasses; c++ {
		u := classUnits(c)
		if u <= prev {
			t.Fatalf("class %d: %d units, not above class %d's %d", c, u, c-1, prev)
		}
		if got := classOf(u); got != c {
			t.Fatalf("classOf(classUnits(%d)=%d) = %d", c, u, got)
		}
		if c > 0 && classOf(prev+1) != c {
			t.Fatalf("classOf(%d) = %d, want %d", prev+1, classOf(prev+1), c)
		}
		if c > 3 && (u-prev)*4 > prev {
			t.Fatalf("class %d wastes more than 25%%: %d after %d", c, u, prev)
		}
		prev = u
		if u*unit >= MaxSize {
			return
		}
	}
	t.Fatalf("classes end at %d units, below MaxSize", prev)
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// CorruptHeadForTest stores v in the free-list head of class c, for tests of corrupt state.
func (h *Heap) corruptHead(c int, v uint64) { *h.seg.u64(offHeads + uint64(c)*8) = v }
