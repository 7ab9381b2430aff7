// Package pids answers the one question every robust shared object asks about a peer: is the
// process that holds this still alive?
package pids

import (
	"os"
	"sync"
)

// Max is the largest pid Linux can hand out (PID_MAX_LIMIT, 2^22): a pid read from shared memory
// that is zero, negative or larger is not a process, it is corrupt state.
const Max = 1 << 22

// Valid reports whether pid could be a process id.
func Valid(pid int) bool { return pid > 0 && pid <= Max }

// SelfStart returns this process's start time (StartTime of its own pid), read from /proc once
// and kept: Go programs do not fork without exec, so it never changes. 0 when /proc could not
// be read, which makes the objects that record it fall back to the pid alone.
func SelfStart() uint64 {
	self.once.Do(func() { self.start, _ = StartTime(os.Getpid()) })
	return self.start
}

// SetSelfStart gives SelfStart its answer without a read of /proc: a child's parent reads the
// child's start time (its own /proc is already warm there, while a first read in a new process
// costs tens of µs at every start) and passes it on. It has effect only before SelfStart's first
// call and for a non-zero start; the caller vouches that start is this process's StartTime.
func SetSelfStart(start uint64) {
	if start != 0 {
		self.once.Do(func() { self.start = start })
	}
}

var self struct {
	once  sync.Once
	start uint64
}
