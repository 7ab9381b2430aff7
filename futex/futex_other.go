//go:build !linux

package futex

import (
	"runtime"
	"time"
)

// Wait returns ErrUnsupported: shmkit runs on Linux only.
func Wait(word *uint32, val uint32, timeout time.Duration) error { return ErrUnsupported }

// Wake returns ErrUnsupported: shmkit runs on Linux only.
func Wake(word *uint32, n int) (int, error) { return 0, ErrUnsupported }

// WaitV returns ErrUnsupported: shmkit runs on Linux only.
func WaitV(words []WaitWord, timeout time.Duration) (int, error) { return -1, ErrUnsupported }

// Yield yields the processor to other goroutines (runtime.Gosched) on platforms other than Linux.
func Yield() { runtime.Gosched() }
