//go:build !linux

package pids

// Alive always reports false: shmkit's shared objects are not supported on this platform.
func Alive(pid int) bool { return false }
