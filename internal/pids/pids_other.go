//go:build !linux

package pids

import "errors"

// Alive always reports false: shmkit's shared objects are not supported on this platform.
func Alive(pid int) bool { return false }

// StartTime reports no start time: shmkit's shared objects are not supported on this platform.
func StartTime(pid int) (uint64, error) { return 0, errUnsupported }

// Gone always reports true: shmkit's shared objects are not supported on this platform.
func Gone(pid int) bool { return true }

// State reports no state: shmkit's shared objects are not supported on this platform.
func State(pid int) (exited bool, start uint64, err error) { return false, 0, errUnsupported }

// AliveSince always reports false: shmkit's shared objects are not supported on this platform.
func AliveSince(pid int, start uint64) bool { return false }

// AliveSinceMasked always reports false: shmkit's shared objects are not supported on this platform.
func AliveSinceMasked(pid int, start uint64, bits uint) bool { return false }

// Missing reports whether err says that there is no such process.
func Missing(err error) bool { return err != nil && err != errUnsupported }

var errUnsupported = errors.New("pids: unsupported platform")
