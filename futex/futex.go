// Package futex is shmkit's one door to the kernel's futex operations: sleep on a 32-bit word in
// shared memory until another process changes it, and wake the sleepers.
//
// Every operation here is a *shared* futex (never FUTEX_PRIVATE_FLAG): the kernel keys the wait
// queue by the physical page behind the word, so a waiter in one process is woken by a Wake in any
// other process that maps the same memory.
//
// The contract, as for the kernel call: atomically, if *word == val, sleep until woken, until the
// timeout passes, or spuriously. A return without error says only "something may have changed":
// callers must re-read the word and loop on their own condition.
//
//	for !condition(word.Load()) {
//		if err := futex.Wait(word, observed, timeout); errors.Is(err, futex.ErrTimeout) { ... }
//	}
//
// A futex wait parks the calling OS thread in the kernel. shmkit's own packages make goroutines
// that may block in large numbers on one shared word wait through a gate (internal/park), which
// lets one goroutine per process park on the word while the others wait on a Go channel; a
// program that calls Wait directly from many goroutines should do the same.
package futex

import (
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/internal/deadline"
)

// Errors returned by the operations of this package.
var (
	// ErrTimeout is returned when a wait's timeout passed before a wake-up. It matches
	// os.ErrDeadlineExceeded and context.DeadlineExceeded under errors.Is, and reports
	// Timeout() == true, so callers may test for whichever they already use. Every shmkit package
	// exports this same value as its ErrTimeout.
	ErrTimeout = deadline.ErrTimeout

	// ErrBadTimeout is returned for a negative timeout other than Forever. Every shmkit package
	// exports this same value as its ErrBadTimeout.
	ErrBadTimeout = deadline.ErrBadTimeout

	// ErrUnsupported is returned by WaitV on kernels without futex_waitv (before Linux 5.16) and by
	// every operation on platforms other than Linux.
	ErrUnsupported = fmt.Errorf("futex: %w on this platform or kernel", errors.ErrUnsupported)

	// ErrUnaligned is returned when a word's address is not 4-byte aligned.
	ErrUnaligned = errors.New("futex: word is not 4-byte aligned")
)

// Forever, passed as a timeout, waits without a time bound. Every shmkit package that blocks
// exports this same value.
const Forever = deadline.Forever

// MaxWaitV is the largest number of words WaitV accepts (the kernel's FUTEX_WAITV_MAX).
const MaxWaitV = 128

// WaitWord is one entry of a WaitV call: sleep while *Word == Val.
type WaitWord struct {
	Word *uint32
	Val  uint32
}
