//go:build linux

package shm

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// inUse reports whether any process holds the file f open or mapped (ignoring this process's
// descriptor skip, the one the caller opened to check): it scans every /proc/PID/fd and, where
// readable, /proc/PID/maps for f's device and inode. A process whose descriptors cannot be read
// (another user's, without the privilege) counts as a user. A process whose maps cannot be read
// (ptrace access denied) is judged by its descriptors alone: a shmkit Segment keeps its file open
// for as long as it is mapped; a foreign program that maps a segment and closes the descriptor,
// in such a process, is not seen.
func inUse(f *os.File, skip int) bool {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return true
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		used, ok := procUses(pid, pid == self, skip, st.Dev, st.Ino)
		if used || (!ok && pidStillThere(pid)) {
			return true
		}
	}
	return false
}

// pidStillThere reports whether /proc still lists pid (a process that exited mid-scan does not).
func pidStillThere(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// procUses reports whether process pid has the file (dev, ino) open or mapped; ok is false when
// its entries could not be read.
func procUses(pid int, self bool, skip int, dev, ino uint64) (used, ok bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false, false
	}
	for _, e := range fds {
		n, err := strconv.Atoi(e.Name())
		if err != nil || (self && n == skip) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(dir+"/fd/"+e.Name(), &st) == nil && st.Dev == dev && st.Ino == ino {
			return true, true
		}
	}
	maps, err := os.Open(dir + "/maps")
	if err != nil {
		// Reading another process's maps needs ptrace access, which even root may lack (pid 1
		// in a container): the descriptors decide. A shmkit Segment keeps its file open for
		// as long as it is mapped.
		return false, true
	}
	defer maps.Close()
	sc := bufio.NewScanner(maps)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if mapsLineIs(sc.Bytes(), dev, ino) {
			return true, true
		}
	}
	return false, sc.Err() == nil
}

// mapsLineIs reports whether a /proc/PID/maps line maps the file (dev, ino): its fourth field is
// "major:minor" in hex and its fifth the inode in decimal. It never panics, whatever line holds.
func mapsLineIs(line []byte, dev, ino uint64) bool {
	f := bytes.Fields(line)
	if len(f) < 5 {
		return false
	}
	i, err := strconv.ParseUint(string(f[4]), 10, 64)
	if err != nil || i != ino {
		return false
	}
	maj, min, found := bytes.Cut(f[3], []byte{':'})
	if !found {
		return false
	}
	ma, err1 := strconv.ParseUint(string(maj), 16, 32)
	mi, err2 := strconv.ParseUint(string(min), 16, 32)
	return err1 == nil && err2 == nil && unix.Mkdev(uint32(ma), uint32(mi)) == dev
}
