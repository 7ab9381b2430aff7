//go:build linux

package proc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

const supported = true

func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

// lifelineClosed reports, without blocking, whether the lifeline's write end is gone.
func lifelineClosed() bool {
	fds := []unix.PollFd{{Fd: fdLifeline, Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLIN|unix.POLLERR) != 0
}
