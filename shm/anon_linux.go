package shm

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/internal/pids"
)

// An AnonInfo is one anonymous shmkit segment (a memfd, such as a process's default heap) that live
// processes hold open, as ListAnonymous found it. Anonymous segments have no name in /dev/shm and
// are never stale: the kernel frees one when the last process holding it closes it or exits.
type AnonInfo struct {
	// Path opens the segment through one of its holders' descriptors, /proc/PID/fd/N; Inspect
	// takes it as a name. It is valid while that process keeps the descriptor.
	Path         string `json:"path"`
	Size         uint64 `json:"size"`
	Creator      int    `json:"creator_pid"`
	CreatorAlive bool   `json:"creator_alive"` // pid and start time both match a live process
	Default      bool   `json:"default_heap"`  // some process's default heap (Default)
	Holders      []int  `json:"holders"`       // the processes that have it open, ascending
}

// memfdPrefix is how /proc/PID/fd shows the memfds Create makes ("/memfd:shmkit (deleted)").
const memfdPrefix = "/memfd:shmkit"

// ListAnonymous returns the anonymous shmkit segments that processes this one may inspect (its
// own user's, or every process for root) have open, one entry per segment however many processes
// share it, ordered by creator pid. A descriptor whose file is not a valid shmkit segment is left
// out; processes whose descriptors cannot be read are skipped. All processes involved must share
// this process's pid namespace.
func ListAnonymous() ([]AnonInfo, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	type key struct{ dev, ino uint64 }
	found := map[key]*AnonInfo{}
	var order []key
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range fds {
			path := dir + e.Name()
			target, err := os.Readlink(path)
			if err != nil || !strings.HasPrefix(target, memfdPrefix) {
				continue
			}
			var st unix.Stat_t
			if unix.Stat(path, &st) != nil {
				continue
			}
			k := key{st.Dev, st.Ino}
			if info := found[k]; info != nil {
				if info.Holders[len(info.Holders)-1] != pid {
					info.Holders = append(info.Holders, pid)
				}
				continue
			}
			h, ok := anonHeader(path)
			if !ok {
				continue
			}
			found[k] = &AnonInfo{Path: path, Size: h.size, Creator: int(h.creator), Holders: []int{pid},
				CreatorAlive: pids.AliveSince(int(h.creator), h.creatorStart), Default: h.flags&flagDefault != 0}
			order = append(order, k)
		}
	}
	out := make([]AnonInfo, 0, len(order))
	for _, k := range order {
		out = append(out, *found[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Creator < out[j].Creator })
	return out, nil
}

// anonHeader reads the header of the anonymous segment at path (/proc/PID/fd/N) and returns it if
// the file is a valid shmkit segment that is not a named one.
func anonHeader(path string) (header, bool) {
	f, _, err := openProcFD(path)
	if err != nil {
		return header{}, false
	}
	defer f.Close()
	h, ok := fileHeader(f)
	return h, ok && h.flags&flagNamed == 0
}

// isProcFD reports whether name has the form /proc/PID/fd/N.
func isProcFD(name string) bool {
	rest, ok := strings.CutPrefix(name, "/proc/")
	if !ok {
		return false
	}
	pid, fd, ok := strings.Cut(rest, "/fd/")
	_, err1 := strconv.ParseUint(pid, 10, 31)
	_, err2 := strconv.ParseUint(fd, 10, 31)
	return ok && err1 == nil && err2 == nil
}

// openProcFD opens, read-only, the memfd behind the descriptor path /proc/PID/fd/N, after checking
// that it is one of the memfds Create makes, and returns it with its size.
func openProcFD(path string) (*os.File, int64, error) {
	if !isProcFD(path) {
		return nil, 0, fmt.Errorf("%w: %q is not /proc/PID/fd/N", ErrBadName, path)
	}
	target, err := os.Readlink(path)
	if err != nil {
		return nil, 0, fmt.Errorf("shm: %w", err)
	}
	if !strings.HasPrefix(target, memfdPrefix) {
		return nil, 0, fmt.Errorf("shm: %s: %w: it is %s, not a shmkit memfd", path, ErrNotSegment, target)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("shm: open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("shm: %s: %w: not a regular file", path, ErrNotSegment)
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}
