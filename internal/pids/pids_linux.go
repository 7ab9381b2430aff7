//go:build linux

package pids

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Alive reports whether a process with this pid exists: kill(pid, 0) succeeds, or fails only for
// want of permission. A zombie counts as alive until reaped, and a pid reused by an unrelated
// process counts as alive: callers that recover from dead peers must document that limit.
func Alive(pid int) bool {
	if !Valid(pid) {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
