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
// the pid space wraps around: pid_max is 4,194,304 on 64-bit Linux by default); where a start time
// was recorded beside the pid, AliveSince tells the two apart. Pids mean nothing across pid
// namespaces, so processes sharing objects must be in the same one (see AliveSince).
func Alive(pid int) bool {
	if !Valid(pid) {
		return false
	}
	if Gone(pid) {
		return false
	}
	exited, _, err := State(pid)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	return !exited
}

// Gone reports whether kill(pid, 0) says that there is no such process: a cheap test, one system
// call and no /proc read. Any other answer (a live process, a zombie, a process of another user)
// is not gone. A pid not Valid is gone.
func Gone(pid int) bool { return !Valid(pid) || errors.Is(unix.Kill(pid, 0), unix.ESRCH) }

// State reads /proc/PID/stat once: whether the process has exited (a zombie, or dead and not
// yet removed) and its start time (as StartTime). The error wraps os.ErrNotExist when there is
// no such process; a line whose start time it cannot read is an error too (exited is then what
// the line's state field said, false without one).
func State(pid int) (exited bool, start uint64, err error) {
	if !Valid(pid) {
		return false, 0, os.ErrNotExist
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, 0, err
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		exited = b[i+2] == 'Z' || b[i+2] == 'X'
	}
	start, err = ParseStartTime(b)
	return exited, start, err
}

// StartTime returns the start time of process pid in clock ticks since boot (field 22 of
// /proc/PID/stat). Paired with the pid, it names one process: a pid reused by a later process
// comes with a later start time. The error wraps os.ErrNotExist when there is no such process.
func StartTime(pid int) (uint64, error) {
	_, start, err := State(pid)
	return start, err
}

// AliveSince reports whether the process with this pid and start time (as StartTime returns it)
// still exists and has not exited. A start time of zero means "not recorded" and falls back to
// Alive. A pid now held by a process with a different start time is a reused pid: the process that
// was recorded is dead. An error other than "no such process" counts as alive, as in Alive.
//
// Pids and start times mean something only inside one pid namespace (and one boot): all processes
// sharing shmkit objects must run in the same pid namespace. A peer in another namespace is looked
// up under the wrong number, so it is either missing (counted dead: what it holds can be seized
// while it lives) or another process (counted dead by the start-time check, or wrongly alive).
func AliveSince(pid int, start uint64) bool { return AliveSinceMasked(pid, start, 64) }

// AliveSinceMasked is AliveSince for a start time of which only the low bits were recorded (a
// word that has no room for all of it): the process is the recorded one when the low bits of its
// start time equal start. A recorded start of zero means "not recorded" and falls back to Alive.
// A pid reused by a process whose start time agrees in those bits is taken for the recorded one:
// with b bits and start times in clock ticks (100 per second), the two starts must fall on the
// same tick modulo 2^b ticks, about one chance in 2^b for a reuse at a random moment.
func AliveSinceMasked(pid int, start uint64, bits uint) bool {
	mask := ^uint64(0)
	if bits < 64 {
		mask = 1<<bits - 1
	}
	if Gone(pid) {
		return false
	}
	exited, now, err := State(pid) // one read of /proc answers both questions
	switch {
	case exited:
		return false
	case err != nil:
		return !Missing(err)
	case start == 0:
		return true
	}
	return now&mask == start
}

// Missing reports whether err (from State or StartTime) says that there is no such process.
func Missing(err error) bool { return errors.Is(err, os.ErrNotExist) }
