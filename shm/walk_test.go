package shm

import (
	"bytes"
	"testing"
)

// FuzzInspect gives the read-only segment parser arbitrary file contents, seeded with a real
// segment holding blocks: it must never panic, and what it accepts must stay within the file.
func FuzzInspect(f *testing.F) {
	s, err := Create(MinSize+64*unit, nil)
	if err != nil {
		f.Fatal(err)
	}
	h, _ := s.Heap()
	r1, _ := h.Alloc(100, 7)
	h.Alloc(1000, 8)
	h.Free(r1)
	img := append([]byte(nil), s.mem...)
	s.Close()
	f.Add(img)
	f.Add(img[:HeaderSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := inspectFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var end uint64
		for _, blk := range in.Blocks {
			if blk.Off < HeaderSize+unit || blk.Off-unit+blk.Bytes > uint64(len(b)) || blk.Off-unit < end {
				t.Fatalf("block %+v outside the file or overlapping (end %d, %d bytes)", blk, end, len(b))
			}
			end = blk.Off - unit + blk.Bytes
		}
		if len(in.Peers) > numPeers {
			t.Fatalf("%d peers", len(in.Peers))
		}
	})
}

// The walk of a live heap sees what was allocated and freed.
func TestBlocks(t *testing.T) {
	s, err := Create(1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, _ := s.Heap()
	a, _ := h.Alloc(100, 7)
	if _, err := h.Alloc(1000, 8); err != nil {
		t.Fatal(err)
	}
	if err := h.Free(a); err != nil {
		t.Fatal(err)
	}
	blocks, st, err := s.Blocks()
	if err != nil || st.Used != 1 || st.Free != 1 || st.Unwalked != 0 || len(blocks) != 2 {
		t.Fatalf("blocks %+v, stats %+v, %v", blocks, st, err)
	}
	if b := blocks[1]; !b.Used || b.Kind != 8 || b.Size != 1000 || b.Ref.Off != b.Off {
		t.Fatalf("the used block: %+v", b)
	}
}
