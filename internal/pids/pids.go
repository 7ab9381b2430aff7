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
var SelfStart = sync.OnceValue(func() uint64 {
	t, _ := StartTime(os.Getpid())
	return t
})
