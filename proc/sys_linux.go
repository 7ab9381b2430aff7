//go:build linux

package proc

import (
	"fmt"
	"os"
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

// specChannel returns the two ends of the channel that carries the start spec to a child and
// its "I went through Main" byte back: a socket pair. The parent's end is non-blocking, so that
// acked can look without waiting.
func specChannel() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("proc: start channel: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("proc: start channel: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "shmkit-spec"), os.NewFile(uintptr(fds[1]), "shmkit-spec-child"), nil
}

// shutWrite ends what the parent sends on f: the child reads EOF after the spec.
func shutWrite(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_WR) }); cerr != nil {
		return cerr
	}
	return err
}

// acked reports, without waiting, whether the child sent its byte on f.
func acked(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	n := 0
	rc.Read(func(fd uintptr) bool {
		n, _ = unix.Read(int(fd), b[:])
		return true // one look, no wait
	})
	return n == 1
}
