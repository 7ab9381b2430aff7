package pool

import "syscall"

func sigName(n int) string { return syscall.Signal(n).String() }
