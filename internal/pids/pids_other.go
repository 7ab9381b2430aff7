//go:build !linux

package pids

import "errors"

// Alive always reports false: shmkit's shared objects are not supported on this platform.
func Alive(pid int) bool { return false }

// StartTime reports no start time: shmkit's shared objects are not supported on this platform.
func StartTime(pid int) (uint64, error) { return 0, errUnsupported }

// AliveSince always reports false: shmkit's shared objects are not supported on this platform.
func AliveSince(pid int, start uint64) bool { return false }

var errUnsupported = errors.New("pids: unsupported platform")
