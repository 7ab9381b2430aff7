//go:build linux

package fence

import "golang.org/x/sys/unix"

// membarrier(2) commands (linux/membarrier.h).
const (
	cmdQuery                   = 0
	cmdGlobalExpedited         = 1 << 1
	cmdRegisterGlobalExpedited = 1 << 2
)

func membarrier(cmd int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func register() bool {
	cmds, err := membarrier(cmdQuery)
	if err != nil || cmds&(cmdGlobalExpedited|cmdRegisterGlobalExpedited) != cmdGlobalExpedited|cmdRegisterGlobalExpedited {
		return false
	}
	_, err = membarrier(cmdRegisterGlobalExpedited)
	return err == nil
}

func heavy() bool {
	_, err := membarrier(cmdGlobalExpedited)
	return err == nil
}
