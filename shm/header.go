package shm

import (
	"encoding/binary"
	"fmt"

	"github.com/shmkit/shmkit/internal/pids"
)

// Header layout constants; see the package documentation for the table.
const (
	// HeaderSize is the size of a segment's header; the first heap block starts here.
	HeaderSize = 4096
	// Version is the layout version this package writes and reads.
	Version = 3
	// MaxSize is the largest segment this package creates or opens (128 GiB): heap offsets are
	// stored as 32-bit counts of 64-byte units.
	MaxSize = 1 << 37
	// MinSize is the smallest segment: a header and one smallest block.
	MinSize = HeaderSize + 2*unit

	magic = 0x0100_54494b4d4853 // "SHMKIT\x00\x01" read as a little-endian uint64

	offMagic    = 0
	offVersion  = 8
	offHdrSize  = 12
	offSize     = 16
	offID       = 24
	offCreator  = 32
	offFlags    = 36
	offRootOff  = 40
	offRootKind = 48
	offRootGen  = 52
	offBump     = 56
	offCrStart  = 64
	offHeads    = 128
	numClasses  = 128
	// The free-list shards of the small classes (heap.go): shard 0 is offHeads' list, shards
	// 1 to numShards-1 have shardClasses heads each from offShards, shardBytes apart.
	offShards    = 1280
	numShards    = 4
	shardClasses = 16
	shardBytes   = shardClasses * 8
	// offShardOwners: numShards words, the peer word (pid | start time) of the process that
	// claimed each shard (peers.go, claimShard).
	offShardOwners = 1664
	flagNamed      = 1 << 0
	flagDefault    = 1 << 1
	knownFlags     = flagNamed | flagDefault
)

// header is a validated copy of a segment's header fields.
type header struct {
	size    uint64
	id      uint64
	creator uint32
	// creatorStart is the creator's start time (pids.StartTime), 0 if it could not be read.
	creatorStart uint64
	flags        uint32
	bump         uint64
}

// parseHeader validates the first bytes of a segment against the size of the file behind it. It
// reads b with plain loads: callers pass either a private copy or a mapping that no peer is
// expected to be writing (the header's fixed fields never change after creation). It never panics,
// whatever b holds.
func parseHeader(b []byte, fileSize int64) (header, error) {
	var h header
	if len(b) < 64 || fileSize < 64 {
		return h, fmt.Errorf("%w: %d bytes is too small for a header", ErrNotSegment, fileSize)
	}
	m := binary.LittleEndian.Uint64(b[offMagic:])
	if m == 0 {
		return h, ErrNotReady
	}
	if m != magic {
		return h, fmt.Errorf("%w: magic %#x", ErrNotSegment, m)
	}
	if v := binary.LittleEndian.Uint32(b[offVersion:]); v != Version {
		return h, fmt.Errorf("%w: version %d, want %d", ErrVersion, v, Version)
	}
	if hs := binary.LittleEndian.Uint32(b[offHdrSize:]); hs != HeaderSize {
		return h, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, hs, HeaderSize)
	}
	h.size = binary.LittleEndian.Uint64(b[offSize:])
	if fileSize < HeaderSize || uint64(fileSize) < h.size {
		return h, fmt.Errorf("%w: header says %d bytes, file has %d", ErrTruncated, h.size, fileSize)
	}
	if h.size != uint64(fileSize) {
		return h, fmt.Errorf("%w: header says %d bytes, file has %d", ErrCorrupt, h.size, fileSize)
	}
	if h.size < MinSize || h.size > MaxSize || h.size%unit != 0 {
		return h, fmt.Errorf("%w: segment size %d out of range", ErrCorrupt, h.size)
	}
	if len(b) < offHeads {
		return h, fmt.Errorf("%w: header cut short", ErrTruncated)
	}
	h.id = binary.LittleEndian.Uint64(b[offID:])
	h.creator = binary.LittleEndian.Uint32(b[offCreator:])
	if h.creator == 0 || !pids.Valid(int(h.creator)) {
		return h, fmt.Errorf("%w: creator pid %d", ErrCorrupt, h.creator)
	}
	h.creatorStart = binary.LittleEndian.Uint64(b[offCrStart:])
	h.flags = binary.LittleEndian.Uint32(b[offFlags:])
	if h.flags&^knownFlags != 0 {
		return h, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, h.flags)
	}
	h.bump = binary.LittleEndian.Uint64(b[offBump:])
	if h.bump < HeaderSize || h.bump > h.size || h.bump%unit != 0 {
		return h, fmt.Errorf("%w: heap bump %d outside [%d, %d]", ErrCorrupt, h.bump, HeaderSize, h.size)
	}
	return h, nil
}
