// Package testutil holds what shmkit's multi-process tests share: a TestMain that runs
// proc.Main first and then checks that the tests left nothing behind (no /dev/shm files, no child
// processes, no stuck goroutines), and small helpers for waiting on conditions.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/proc"
)

// Prefix starts the name of every named segment that tests create, so the leak check finds them.
const Prefix = "shmkit-test-"

// Main is the whole TestMain of a package whose tests start processes:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// In a child it runs the requested target (proc.Main) and exits. In the test process it runs the
// tests and then fails the run if they left /dev/shm files named with Prefix by this process,
// child processes, or more goroutines than were running before (after a grace period).
func Main(m *testing.M) {
	proc.Main()
	before := runtime.NumGoroutine()
	code := m.Run()
	if msg := Leaks(before); msg != "" {
		fmt.Fprintln(os.Stderr, "testutil: leak check failed:\n"+msg)
		if code == 0 {
			code = 99
		}
	}
	os.Exit(code)
}

// Leaks reports what the tests left behind: /dev/shm files of this process, live or zombie
// children, goroutines beyond base. It waits up to 2 s for them to go away before reporting.
func Leaks(base int) string {
	var msg string
	deadline := time.Now().Add(2 * time.Second)
	for {
		msg = ""
		if files := ShmFiles(); len(files) > 0 {
			msg += fmt.Sprintf("  /dev/shm files left: %v\n", files)
		}
		if kids := Children(); len(kids) > 0 {
			msg += fmt.Sprintf("  child processes left: %v\n", kids)
		}
		if n := runtime.NumGoroutine(); n > base+1 { // +1: the lifeline or signal goroutines may linger
			msg += fmt.Sprintf("  %d goroutines running, %d before the tests\n", n, base)
		}
		if msg == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(msg, "goroutines") {
		buf := make([]byte, 1<<20)
		msg += string(buf[:runtime.Stack(buf, true)])
	}
	return msg
}

// ShmName returns a fresh segment name for a test: Prefix, the pid and a counter, so leaks are
// traced to this process.
func ShmName(t testing.TB) string {
	counter++
	name := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), counter)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join("/dev/shm", name)); err == nil {
			t.Errorf("testutil: /dev/shm/%s still exists at the end of the test", name)
			os.Remove(filepath.Join("/dev/shm", name))
		}
	})
	return name
}

var counter int

// ShmFiles lists the /dev/shm files this process's tests made: named by ShmName, or any name
// starting with "shmkit" that carries this process's pid as a "-<pid>" part (examples name theirs
// so).
func ShmFiles() []string {
	entries, _ := os.ReadDir("/dev/shm")
	pid := "-" + strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "shmkit") && (strings.HasSuffix(n, pid) || strings.Contains(n, pid+"-")) {
			out = append(out, n)
		}
	}
	return out
}

// Children lists the pids of this process's child processes, zombies included.
func Children() []int {
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if PPid(pid) == me {
			out = append(out, pid)
		}
	}
	return out
}

// PPid returns the parent pid of pid from /proc, or 0 if it does not exist.
func PPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// Eventually polls cond every few milliseconds until it holds or d passes, and reports whether it
// held. It is for waiting on another process, never for asserting speed.
func Eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Start starts fn(args...) in a child, failing t if it cannot. When the test ends with the child
// still running (it failed before joining it), a Cleanup kills and reaps the child; shared objects
// that the test frees in a Cleanup registered before Start are therefore freed after the child is
// gone, never under it (a deferred Free would run first).
func Start(t testing.TB, fn any, args ...any) *proc.Process {
	t.Helper()
	p, err := proc.Start(fn, args...)
	if err != nil {
		t.Fatalf("start %T: %v", fn, err)
	}
	t.Cleanup(func() {
		if p.IsAlive() {
			p.Kill()
			p.Join(proc.Forever)
		}
	})
	return p
}

// WaitOK waits for p, at most a minute, and fails t unless its target returned nil: the failure
// says how the child ended (proc.ExitError). A child still running after the minute is killed
// and reaped first, so that the test leaves none behind.
func WaitOK(t testing.TB, p *proc.Process) {
	t.Helper()
	err := p.WaitTimeout(time.Minute)
	if errors.Is(err, proc.ErrTimeout) {
		p.Kill()
		p.Join(proc.Forever)
	}
	if err != nil {
		t.Fatalf("child %v: %v", p, err)
	}
}

// Python3 returns the path of python3, which the interop tests and the CPython baselines run.
// Where it is missing the test is skipped, naming what then goes unmeasured or untested (what),
// unless SHMKIT_REQUIRE_PYTHON is set: CI sets it, after installing python3, so that a missing
// interpreter fails there instead of silently skipping.
func Python3(t testing.TB, what string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		return py
	}
	if os.Getenv("SHMKIT_REQUIRE_PYTHON") != "" {
		t.Fatalf("python3 not found (%v), and SHMKIT_REQUIRE_PYTHON is set: %s", err, what)
	}
	t.Skipf("python3 not installed (%v): %s skipped", err, what)
	return ""
}
