// Package pids answers the one question every robust shared object asks about a peer: is the
// process that holds this still alive?
package pids

// Max is the largest pid Linux can hand out (PID_MAX_LIMIT, 2^22): a pid read from shared memory
// that is zero, negative or larger is not a process, it is corrupt state.
const Max = 1 << 22

// Valid reports whether pid could be a process id.
func Valid(pid int) bool { return pid > 0 && pid <= Max }
