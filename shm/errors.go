package shm

import (
	"errors"
	"fmt"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is.
var (
	// ErrNotSegment is returned when a file or descriptor is not a shmkit segment (wrong magic).
	ErrNotSegment = errors.New("shm: not a shmkit segment")
	// ErrVersion is returned when a segment has a layout version this code does not know.
	ErrVersion = errors.New("shm: unsupported segment layout version")
	// ErrTruncated is returned when a segment is smaller than its header says, or when it shrank
	// under an operation.
	ErrTruncated = errors.New("shm: segment truncated")
	// ErrCorrupt is returned when shared state read from a segment is impossible: an offset out of
	// range, a bad block header, a free list that points nowhere.
	ErrCorrupt = errors.New("shm: corrupt shared state")
	// ErrNotReady is returned when a named segment exists but its creator has not finished
	// writing its header; retrying later may succeed.
	ErrNotReady = errors.New("shm: segment not initialised yet")
	// ErrNoSpace is returned when a heap has no block large enough for an allocation.
	ErrNoSpace = errors.New("shm: heap exhausted")
	// ErrBadName is returned for a segment name that is empty, holds '/' or NUL, or is too long.
	ErrBadName = errors.New("shm: invalid segment name")
	// ErrBadSize is returned for a segment or allocation size out of range.
	ErrBadSize = errors.New("shm: invalid size")
	// ErrBadRef is returned for a Ref that does not name a live object of the expected kind.
	ErrBadRef = errors.New("shm: invalid ref")
	// ErrClosed is returned when a closed segment is used.
	ErrClosed = errors.New("shm: segment closed")
	// ErrUnsupported is returned on platforms other than Linux.
	ErrUnsupported = fmt.Errorf("shm: %w on this platform", errors.ErrUnsupported)
)
