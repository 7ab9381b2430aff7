//go:build !linux

package shm

import "os"

func memfd(name string, size uint64) (*os.File, error) { return nil, ErrUnsupported }

func createFile(name string, mode os.FileMode, size uint64, reserve bool) (*os.File, error) {
	return nil, ErrUnsupported
}

func openFile(name string) (*os.File, error) { return nil, ErrUnsupported }

func unlinkName(name string) error { return ErrUnsupported }

func unlinkSame(name string, f *os.File) (bool, error) { return false, ErrUnsupported }

func mapFile(f *os.File, size int) ([]byte, error) { return nil, ErrUnsupported }

func unmap(b []byte) error { return ErrUnsupported }

func inUse(f *os.File, skip int) bool { return true }

// AnonInfo is defined on Linux only in full; elsewhere there are no anonymous segments to list.
type AnonInfo struct {
	Path         string `json:"path"`
	Size         uint64 `json:"size"`
	Creator      int    `json:"creator_pid"`
	CreatorAlive bool   `json:"creator_alive"`
	Default      bool   `json:"default_heap"`
	Holders      []int  `json:"holders"`
}

// ListAnonymous is unsupported outside Linux.
func ListAnonymous() ([]AnonInfo, error) { return nil, ErrUnsupported }

func isProcFD(name string) bool { return false }

func openProcFD(path string) (*os.File, int64, error) { return nil, 0, ErrUnsupported }
