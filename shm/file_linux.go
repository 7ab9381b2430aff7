//go:build linux

package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// memfd creates a sealed-size memfd of size bytes.
func memfd(name string, size uint64) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: size memfd to %d bytes: %w", size, err)
	}
	// No peer can shrink or grow it, so no mapping of it can ever fault on a lost page.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("shm: seal memfd: %w", err)
	}
	return f, nil
}

func createFile(name string, mode os.FileMode, size uint64, reserve bool) (*os.File, error) {
	path := filepath.Join(DevShm, name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
	if err != nil {
		return nil, fmt.Errorf("shm: create %s: %w", path, err)
	}
	// open(2) applies the umask; fchmod sets exactly the mode asked for.
	if err := unix.Fchmod(fd, uint32(mode)); err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return nil, fmt.Errorf("shm: chmod %s: %w", path, err)
	}
	if reserve {
		err = unix.Fallocate(fd, 0, 0, int64(size))
	} else {
		err = unix.Ftruncate(fd, int64(size))
	}
	if err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return nil, fmt.Errorf("shm: reserve %d bytes for %s: %w", size, path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openFile(name string) (*os.File, error) {
	path := filepath.Join(DevShm, name)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("shm: %s: %w: not a regular file", path, ErrNotSegment)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// unlinkSame removes /dev/shm/name only while that name is the file f (the same device and
// inode), and reports whether it did. A name that is gone, or that now belongs to another file
// (the segment was unlinked by someone else and the name reused), is left alone.
//
// The check and the removal are made atomic against a concurrent re-creation of the name by
// first renaming the name away to a name private to this process (rename is atomic), checking
// what was renamed, and then unlinking it — or renaming it back, without replacing anything, in
// the unlikely case that the name changed hands between the first check and the rename.
func unlinkSame(name string, f *os.File) (bool, error) {
	var mine unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &mine); err != nil {
		return false, fmt.Errorf("shm: stat %s: %w", name, err)
	}
	path := filepath.Join(DevShm, name)
	same := func(p string) (bool, error) {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return false, nil
			}
			return false, fmt.Errorf("shm: stat %s: %w", p, err)
		}
		return st.Dev == mine.Dev && st.Ino == mine.Ino, nil
	}
	if ok, err := same(path); !ok || err != nil {
		return false, err
	}
	tmp := filepath.Join(DevShm, fmt.Sprintf(".shmkit-unlink-%d-%d", os.Getpid(), unlinkSeq.Add(1)))
	if err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, tmp, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("shm: unlink %s: %w", name, err)
	}
	if ok, err := same(tmp); ok || err != nil {
		if uerr := unix.Unlink(tmp); uerr != nil && err == nil {
			err = fmt.Errorf("shm: unlink %s: %w", name, uerr)
		}
		return ok, err
	}
	// Another file took the name between the check and the rename: give it back.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); err != nil {
		return false, fmt.Errorf("shm: %s changed hands while being unlinked; another program's segment is left at %s: %w",
			name, tmp, err)
	}
	return false, nil
}

var unlinkSeq atomic.Uint64

func unlinkName(name string) error {
	err := unix.Unlink(filepath.Join(DevShm, name))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("shm: unlink %s: %w", name, err)
	}
	return nil
}

// mapFile maps size bytes of f shared and read-write. The mapping outlives the descriptor.
func mapFile(f *os.File, size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: map %s: %w: %d bytes", f.Name(), ErrBadSize, size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: map %s: %w", f.Name(), err)
	}
	return b, nil
}

// unmap undoes mapFile.
func unmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("shm: unmap: %w", err)
	}
	return nil
}
