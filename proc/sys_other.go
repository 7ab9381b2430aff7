//go:build !linux

package proc

import "os"

const supported = false

func closeOnExec(fd int) {}

func lifelineClosed() bool { return false }

func specChannel() (parent, child *os.File, err error) { return nil, nil, ErrUnsupported }

func shutWrite(f *os.File) error { return ErrUnsupported }

func acked(f *os.File) bool { return false }
