//go:build linux

package pids

import (
	"bytes"
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Alive reports whether a process with this pid exists and has not exited: kill(pid, 0) answers
// ESRCH for a process that is gone; a zombie (exited, not yet reaped by its parent) still answers,
// so its state is read from /proc. An error it cannot interpret counts as alive: callers wait
// rather than seize what a live process holds.
//
// Limits: a pid reused by an unrelated process counts as alive (the kernel reuses pids only after
// the pid space wraps around: pid_max is 4,194,304 on 64-bit Linux by default); and pids mean
// nothing across pid namespaces, so processes sharing objects must be in the same one.
func Alive(pid int) bool {
	if !Valid(pid) {
		return false
	}
	switch err := unix.Kill(pid, 0); {
	case err == nil, errors.Is(err, unix.EPERM):
	case errors.Is(err, unix.ESRCH):
		return false
	default:
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}
