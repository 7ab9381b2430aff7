package value

import (
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is. Errors of the
// packages below (shm.ErrBadRef, lock.ErrOwnerDead, ...) are wrapped as they come.
var (
	// ErrType is returned when a Value or Array is made for a type it cannot hold: one holding a
	// pointer, slice, string, map, interface, channel or func (the error names the field, and
	// also wraps codec.ErrNotPOD), or one of size 0.
	ErrType = errors.New("value: type cannot live in shared memory")
	// ErrTypecode is returned for a Python typecode this package does not know.
	ErrTypecode = errors.New("value: unknown typecode")
	// ErrMismatch is returned when shared memory holds a Value or Array whose element size,
	// typecode or form (Value, Array, with or without a lock) differs from what the caller asked
	// for.
	ErrMismatch = errors.New("value: layout mismatch")
	// ErrCorrupt is returned when a header read from shared memory is impossible: a wrong magic,
	// a length or data offset that does not fit its block or segment. It wraps shm.ErrCorrupt,
	// as every corruption error of shmkit does.
	ErrCorrupt = fmt.Errorf("value: corrupt header: %w", shm.ErrCorrupt)
	// ErrNotAtomic is returned by RawValue's Swap and CompareAndSwap for T of more than 8 bytes,
	// which only a Value (with its lock) can do atomically.
	ErrNotAtomic = errors.New("value: not atomic without a lock")
	// ErrLength is returned for a negative Array length, or one whose bytes overflow a segment.
	ErrLength = errors.New("value: invalid length")
)
