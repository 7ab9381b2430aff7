package shm

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

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
		creator, ok := namedCreator(e.Name())
		if !ok || pids.Alive(creator) {
			continue
		}
		if err := os.Remove(filepath.Join(DevShm, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// namedCreator reads a file's header without mapping it and returns the creator pid of a valid
// named shmkit segment.
func namedCreator(name string) (int, bool) {
	f, err := openFile(name)
	if err != nil {
		return 0, false
	}
	defer f.Close()
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
