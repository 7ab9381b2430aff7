package shm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/pids"
)

// A Block is one heap block as a walk of the heap found it (Segment.Blocks, Inspect).
type Block struct {
	Ref   Ref    `json:"-"`    // names the object (only for a used block of a walked open segment)
	Off   uint64 `json:"off"`  // payload offset in the segment
	Kind  Kind   `json:"kind"` // the object's kind (a used block)
	Size  uint64 `json:"size"` // payload bytes asked for at allocation (a used block)
	Bytes uint64 `json:"bytes"`
	Used  bool   `json:"used"`
	Gen   uint32 `json:"gen"`
}

// HeapStats sums up a walk of a heap.
type HeapStats struct {
	Used      int    `json:"used_blocks"`
	Free      int    `json:"free_blocks"`
	UsedBytes uint64 `json:"used_bytes"` // block bytes, headers included
	FreeBytes uint64 `json:"free_bytes"`
	Bump      uint64 `json:"bump"` // the end of the carved part of the heap
	// Unwalked is how many bytes before Bump the walk could not read: it stops at a block whose
	// header is not valid (a process killed inside Alloc between carving the block and writing
	// its header, or memory a peer scribbled on), since the next block's place depends on it.
	Unwalked uint64 `json:"unwalked_bytes"`
}

// walkBlocks reads the block headers of a heap through r, from HeaderSize to bump, validating
// each: a header that is neither used nor free, a class out of range or a block that would end
// past bump stops the walk (the rest is counted as Unwalked). It never panics, whatever r holds.
func walkBlocks(r io.ReaderAt, bump uint64, each func(Block)) HeapStats {
	st := HeapStats{Bump: bump}
	var h [unit]byte
	off := uint64(HeaderSize)
	for off < bump {
		if n, _ := r.ReadAt(h[:], int64(off)); n < unit {
			break
		}
		state := binary.LittleEndian.Uint32(h[bhState:])
		class := binary.LittleEndian.Uint32(h[bhClass:])
		if (state != blockUsed && state != blockFree) || class >= numClasses {
			break
		}
		size := classUnits(int(class)) * unit
		if size > bump-off {
			break
		}
		b := Block{Off: off + unit, Bytes: size, Used: state == blockUsed,
			Gen: binary.LittleEndian.Uint32(h[bhGen:])}
		if b.Used {
			b.Kind = Kind(binary.LittleEndian.Uint32(h[bhKind:]))
			b.Size = binary.LittleEndian.Uint64(h[bhSize:])
			st.Used++
			st.UsedBytes += size
		} else {
			st.Free++
			st.FreeBytes += size
		}
		if each != nil {
			each(b)
		}
		off += size
	}
	if off < bump {
		st.Unwalked = bump - off
	}
	return st
}

// Blocks walks the heap of s and returns its blocks (used and free) and their sums. A block in
// the middle of an Alloc or Free may be seen in either state. It never panics, whatever peers
// wrote; a named segment truncated under it gives ErrTruncated.
func (s *Segment) Blocks() (blocks []Block, st HeapStats, err error) {
	if s.raw {
		return nil, st, fmt.Errorf("shm: %q: raw segment has no heap", s.name)
	}
	if s.closed.Load() {
		return nil, st, ErrClosed
	}
	err = guard(func() error {
		bump := atomic.LoadUint64(s.u64(offBump))
		if bump < HeaderSize || bump > uint64(len(s.mem)) {
			return fmt.Errorf("%w: heap bump %d", ErrCorrupt, bump)
		}
		st = walkBlocks(bytes.NewReader(s.mem), bump, func(b Block) {
			if b.Used {
				b.Ref = Ref{Seg: s.id, Name: s.name, Off: b.Off, Kind: b.Kind, Gen: b.Gen}
			}
			blocks = append(blocks, b)
		})
		return nil
	})
	return blocks, st, err
}

// An Inspection is what Inspect read of a named segment, without attaching to it.
type Inspection struct {
	Name    string    `json:"name"`
	Size    uint64    `json:"size"`
	Creator int       `json:"creator_pid"`
	Peers   []Peer    `json:"peers"`
	Heap    HeapStats `json:"heap"`
	Blocks  []Block   `json:"-"`
	// ReadAt reads the segment's bytes (an object's words, for the packages that know its
	// layout); it is valid until Close.
	ReadAt func(p []byte, off int64) (int, error) `json:"-"`
	f      *os.File
}

// Close releases the file Inspect opened.
func (in *Inspection) Close() error { return in.f.Close() }

// Inspect reads the named segment /dev/shm/name without mapping it or writing anything (it does
// not record itself as a peer): its header, its peer table, and the headers of its heap blocks.
// Everything is validated as untrusted input; it never panics, whatever the file holds.
//
// name may also be the path of a descriptor of an anonymous segment, /proc/PID/fd/N (see
// ListAnonymous): that segment is read the same way, through a read-only descriptor of its own.
func Inspect(name string) (*Inspection, error) {
	open := openSized
	if isProcFD(name) {
		open = openProcFD
	}
	f, size, err := open(name)
	if err != nil {
		return nil, err
	}
	in, err := inspectFile(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: inspect %q: %w", name, err)
	}
	in.Name, in.f = name, f
	return in, nil
}

// inspectFile parses a segment read through r, of fileSize bytes (see Inspect).
func inspectFile(r io.ReaderAt, fileSize int64) (*Inspection, error) {
	var hb [HeaderSize]byte
	n, _ := r.ReadAt(hb[:], 0)
	h, err := parseHeader(hb[:n], fileSize)
	if err != nil {
		return nil, err
	}
	if n < HeaderSize {
		return nil, fmt.Errorf("%w: header cut short", ErrTruncated)
	}
	in := &Inspection{Size: h.size, Creator: int(h.creator), ReadAt: r.ReadAt}
	in.Peers = parsePeers(hb[:])
	in.Heap = walkBlocks(r, h.bump, func(b Block) { in.Blocks = append(in.Blocks, b) })
	return in, nil
}

// parsePeers returns the entries of a header's peer table (hdr holds at least HeaderSize bytes).
func parsePeers(hdr []byte) []Peer {
	var out []Peer
	for i := 0; i < numPeers; i++ {
		v := binary.LittleEndian.Uint64(hdr[offPeers+8*i:])
		if v == 0 {
			continue
		}
		p := Peer{Pid: int(v & peerPidMsk), Start: v >> PeerStartShift}
		p.Alive = pidValid(p.Pid) && aliveMasked(p.Pid, p.Start)
		out = append(out, p)
	}
	return out
}

// PeerAlive is Segment.PeerAlive over the peer table Inspect read: a pid the table records is
// alive only if one of its entries matches the live process's start time; a pid it does not
// record is judged by pids.Alive.
func (in *Inspection) PeerAlive(pid int) bool {
	known := false
	for _, p := range in.Peers {
		if p.Pid == pid {
			if p.Alive {
				return true
			}
			known = true
		}
	}
	return !known && pids.Alive(pid)
}
