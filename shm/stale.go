package shm

import (
	"errors"
	"os"
	"sync"

	"github.com/shmkit/shmkit/internal/pids"
)

// selfStart returns this process's start time (pids.StartTime), read once; 0 if /proc cannot
// be read, which makes readers fall back to the pid alone.
var selfStart = sync.OnceValue(func() uint64 {
	t, _ := pids.StartTime(os.Getpid())
	return t
})

// CleanStale unlinks the named shmkit segments in /dev/shm whose creator process no longer exists
// (a creator killed before its Close leaves its segment behind, as POSIX shared memory always
// does), and returns the names it removed. Files that are not shmkit segments are never touched.
// The creator is identified by its pid and its start time (both in the header), so a creator
// whose pid was reused by an unrelated process is still found dead (see pids.AliveSince, which
// also states the pid-namespace assumption). A creator that cannot be proven dead keeps its
// segment; attachers other than the creator are not recorded, so a segment whose creator died
// while another process still maps it is removed by name (the mapping stays valid for that
// process, as after the creator's own Close).
func CleanStale() ([]string, error) {
	entries, err := os.ReadDir(DevShm)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		gone, err := removeIfStale(e.Name())
		if err != nil {
			errs = append(errs, err)
		}
		if gone {
			removed = append(removed, e.Name())
		}
	}
	return removed, errors.Join(errs...)
}

// removeIfStale unlinks the named segment name if its creator is dead, and only the file that
// was checked: a name replaced between the check and the unlink is left alone.
func removeIfStale(name string) (bool, error) {
	f, err := openFile(name)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	h, ok := namedHeader(f)
	if !ok || pids.AliveSince(int(h.creator), h.creatorStart) {
		return false, nil
	}
	return unlinkSame(name, f)
}

// namedHeader reads an open file's header without mapping it and returns it if the file is a
// valid named shmkit segment.
func namedHeader(f *os.File) (header, bool) {
	fi, err := f.Stat()
	if err != nil {
		return header{}, false
	}
	var b [offHeads]byte
	n, _ := f.ReadAt(b[:], 0)
	h, err := parseHeader(b[:n], fi.Size())
	if err != nil || h.flags&flagNamed == 0 {
		return header{}, false
	}
	return h, true
}
