package pids_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/pids"
)

// statLine builds a /proc/PID/stat line with this comm and start time (field 22).
func statLine(comm string, start uint64) string {
	f := []string{"1234", "(" + comm + ")", "S"}
	for i := 4; i <= 21; i++ {
		f = append(f, strconv.Itoa(i))
	}
	f = append(f, strconv.FormatUint(start, 10))
	for i := 23; i <= 52; i++ {
		f = append(f, strconv.Itoa(i))
	}
	return strings.Join(f, " ") + "\n"
}

func TestParseStartTime(t *testing.T) {
	for _, comm := range []string{"sleep", "a b", "x) 1 2 3 (y", ")", "((", ""} {
		got, err := pids.ParseStartTime([]byte(statLine(comm, 987654)))
		if err != nil || got != 987654 {
			t.Fatalf("comm %q: got %d, %v; want 987654", comm, got, err)
		}
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", statLine("x", 0), strings.Replace(statLine("x", 555), " 555 ", " -555 ", 1)} {
		if v, err := pids.ParseStartTime([]byte(bad)); err == nil {
			t.Fatalf("%q: accepted, start %d", bad, v)
		}
	}
}

func FuzzParseStartTime(f *testing.F) {
	f.Add([]byte(statLine("a) (b", 42)))
	f.Add([]byte("1 (x) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := pids.ParseStartTime(b)
		if err == nil && v == 0 {
			t.Fatal("a zero start time accepted")
		}
		if err != nil && v != 0 {
			t.Fatal("a value returned with an error")
		}
	})
}

func TestStartTimeOfSelf(t *testing.T) {
	a, err := pids.StartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("StartTime(self) = %d, %v", a, err)
	}
	if !pids.AliveSince(os.Getpid(), a) || !pids.AliveSince(os.Getpid(), 0) {
		t.Fatal("this process is not alive under its own start time")
	}
}

// A pid that a dead process once held and an unrelated live process holds now: the recorded
// owner (same pid, another start time) is found dead, the live process is found alive.
func TestAliveSinceReusedPid(t *testing.T) {
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := sleeper.Process.Pid
	now, err := pids.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !pids.Alive(pid) || !pids.AliveSince(pid, now) {
		t.Fatalf("the live sleeper %d is reported dead", pid)
	}
	for _, old := range []uint64{1, now - 1, now + 1} {
		if old == 0 {
			continue
		}
		if pids.AliveSince(pid, old) {
			t.Fatalf("pid %d recorded with start %d (now %d) reported alive", pid, old, now)
		}
	}
}
