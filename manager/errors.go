package manager

import (
	"errors"
	"fmt"
	"os"

	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/opts"
	"github.com/shmkit/shmkit/shm"
)

// Errors returned by this package, wrapped with detail; test them with errors.Is. Errors of the
// packages below (shm.ErrNoSpace, shm.ErrBadRef, codec errors) are wrapped as they come.
var (
	// ErrCorrupt is returned when the shared structure holds something no correct writer leaves:
	// an offset outside the segment, a length that does not fit its block, a table of impossible
	// size. It wraps shm.ErrCorrupt. The operation changed nothing it could not undo.
	ErrCorrupt = fmt.Errorf("manager: corrupt shared state: %w", shm.ErrCorrupt)
	// ErrMismatch is returned by Open functions and AttachRef when the object was made for other
	// key or value types than the caller asks for.
	ErrMismatch = errors.New("manager: object holds other types")
	// ErrUnsupported is returned for a type this package cannot store (it wraps
	// errors.ErrUnsupported), such as a key type whose encoding is not deterministic.
	ErrUnsupported = fmt.Errorf("manager: %w", errors.ErrUnsupported)
	// ErrIndex is returned by List operations given an index outside the list.
	ErrIndex = errors.New("manager: index out of range")
	// ErrTooLarge is returned when a key or value is larger than one heap block can hold.
	ErrTooLarge = errors.New("manager: key or value too large")
)

// Forever, ErrTimeout and ErrBadTimeout are shmkit's timeout convention (see package lock): the
// blocking calls of this package have Context forms, and the errors they return on a deadline
// match ErrTimeout.
const Forever = deadline.Forever

// ErrTimeout is matched by every timeout of this package (and by os.ErrDeadlineExceeded and
// context.DeadlineExceeded).
var ErrTimeout = deadline.ErrTimeout

// ErrBadTimeout is returned for a negative timeout other than Forever.
var ErrBadTimeout = deadline.ErrBadTimeout

// An Option configures a constructor (NewDict, NewList, NewNamespace). It is the same type as
// lock.Option and value.Option.
type Option = opts.Option

// In makes a constructor allocate its object in heap h instead of the process's default heap
// (which children inherit): manager.NewDict[string, int](manager.In(h)).
func In(h *shm.Heap) Option { return opts.In(h) }

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ErrClosed is returned by the methods of a handle after its Close (it is os.ErrClosed, so
// errors.Is(err, os.ErrClosed) holds too).
var ErrClosed = os.ErrClosed
