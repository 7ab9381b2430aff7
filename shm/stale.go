package shm

import (
	"encoding/binary"
	"errors"
	"os"

	"github.com/shmkit/shmkit/internal/pids"
)

// CleanStale unlinks the named shmkit segments in /dev/shm whose creator process no longer exists
// (a creator killed before its Close leaves its segment behind, as POSIX shared memory always
// does), and returns the names it removed. Files that are not shmkit segments are never touched.
// A creator pid that was reused by an unrelated process keeps its segment until that process
// ends too: the check is kill(pid, 0), which cannot tell the two apart.
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
	creator, ok := namedCreator(f)
	if !ok || pids.Alive(creator) {
		return false, nil
	}
	return unlinkSame(name, f)
}

// namedCreator reads an open file's header without mapping it and returns the creator pid of a
// valid named shmkit segment.
func namedCreator(f *os.File) (int, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	var b [offHeads]byte
	n, _ := f.ReadAt(b[:], 0)
	if _, err := parseHeader(b[:n], fi.Size()); err != nil {
		return 0, false
	}
	if binary.LittleEndian.Uint32(b[offFlags:])&flagNamed == 0 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(b[offCreator:])), true
}
