package shm

import (
	"errors"
	"os"

	"github.com/shmkit/shmkit/internal/pids"
)

// selfPid is this process's pid: Go programs do not fork without exec.
var selfPid = os.Getpid()

// NamedInfo describes one named shmkit segment in /dev/shm, as ListNamed found it.
type NamedInfo struct {
	Name         string `json:"name"`
	Size         uint64 `json:"size"`
	Creator      int    `json:"creator_pid"`
	CreatorStart uint64 `json:"creator_start,omitempty"` // clock ticks since boot; 0: not recorded
	CreatorAlive bool   `json:"creator_alive"`           // pid and start time both match a live process
	InUse        bool   `json:"in_use"`                  // some process has it open or mapped, or may have
	Stale        bool   `json:"stale"`                   // neither: CleanStale removes it
}

// ListNamed returns the named shmkit segments in /dev/shm (files that are not valid named shmkit
// segments are left out). A segment is Stale when its creator is provably dead (pid and start
// time, see pids.AliveSince) and no process has it open or mapped (every /proc/PID/fd and
// /proc/PID/maps is scanned; a process whose entries cannot be read counts as a user).
func ListNamed() ([]NamedInfo, error) {
	var out []NamedInfo
	err := eachNamed(func(name string, f *os.File) error {
		if info, ok := inspect(name, f); ok {
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// eachNamed calls fn with every regular file in /dev/shm that it can open; fn's errors are joined.
func eachNamed(fn func(name string, f *os.File) error) error {
	entries, err := os.ReadDir(DevShm)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := openFile(e.Name())
		if err != nil {
			continue
		}
		errs = append(errs, fn(e.Name(), f))
		f.Close()
	}
	return errors.Join(errs...)
}

// inspect describes the open named segment f.
func inspect(name string, f *os.File) (NamedInfo, bool) {
	h, ok := namedHeader(f)
	if !ok {
		return NamedInfo{}, false
	}
	info := NamedInfo{Name: name, Size: h.size, Creator: int(h.creator), CreatorStart: h.creatorStart}
	info.CreatorAlive = pids.AliveSince(info.Creator, h.creatorStart)
	if !info.CreatorAlive {
		info.InUse = inUse(f, int(f.Fd()))
	}
	info.Stale = !info.CreatorAlive && !info.InUse
	return info, true
}

// CleanStale unlinks the named shmkit segments in /dev/shm whose creator process no longer exists
// (a creator killed before its Close leaves its segment behind, as POSIX shared memory always
// does), and returns the names it removed. Files that are not shmkit segments are never touched.
// A segment is removed only when ListNamed would call it Stale: its creator, identified by pid
// and start time (so a creator whose pid was reused by an unrelated process is still found dead;
// see pids.AliveSince for the pid-namespace assumption), is gone, and no process has the file
// open or mapped. Only the file that was checked is unlinked (a name replaced meanwhile is left
// alone). A process that opens the segment between the check and the unlink keeps its mapping;
// only the name is gone, as after the creator's own Close.
func CleanStale() ([]string, error) {
	var removed []string
	err := eachNamed(func(name string, f *os.File) error {
		if info, ok := inspect(name, f); !ok || !info.Stale {
			return nil
		}
		gone, err := unlinkSame(name, f)
		if gone {
			removed = append(removed, name)
		}
		return err
	})
	return removed, err
}

// namedHeader reads an open file's header without mapping it and returns it if the file is a
// valid named shmkit segment.
func namedHeader(f *os.File) (header, bool) {
	h, ok := fileHeader(f)
	return h, ok && h.flags&flagNamed != 0
}

// fileHeader reads an open file's header without mapping it and returns it if it is valid.
func fileHeader(f *os.File) (header, bool) {
	fi, err := f.Stat()
	if err != nil {
		return header{}, false
	}
	var b [offHeads]byte
	n, _ := f.ReadAt(b[:], 0)
	h, err := parseHeader(b[:n], fi.Size())
	return h, err == nil
}
