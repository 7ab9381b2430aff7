//go:build !linux

package proc

const supported = false

func closeOnExec(fd int) {}

func lifelineClosed() bool { return false }
