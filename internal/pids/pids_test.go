package pids_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/pids"
)

func TestAlive(t *testing.T) {
	if !pids.Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	for _, pid := range []int{0, -1, pids.Max + 1} {
		if pids.Alive(pid) {
			t.Fatalf("Alive(%d) = true", pid)
		}
	}
	zombie := exec.Command("/bin/true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	zpid := zombie.Process.Pid
	zstart, err := pids.StartTime(zpid)
	if err != nil {
		t.Fatal(err)
	}
	// Not yet reaped: a zombie once it exits, which counts as dead, whatever its start time.
	for deadline := time.Now().Add(5 * time.Second); pids.Alive(zpid); {
		if time.Now().After(deadline) {
			t.Fatalf("exited, unreaped child %d still reported alive", zpid)
		}
		time.Sleep(time.Millisecond)
	}
	exited, start, err := pids.State(zpid)
	if err != nil || !exited || start != zstart {
		t.Errorf("State(zombie %d) = %v, %d, %v; want true, %d, nil", zpid, exited, start, err, zstart)
	}
	if pids.AliveSince(zpid, zstart) || pids.AliveSince(zpid, 0) {
		t.Errorf("AliveSince(zombie %d) = true", zpid)
	}
	zombie.Wait()
	if _, _, err := pids.State(zpid); !pids.Missing(err) {
		t.Errorf("State(reaped %d): error %v, want a missing process", zpid, err)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if pids.Alive(cmd.Process.Pid) {
		t.Fatalf("a reaped child (%d) is reported alive", cmd.Process.Pid)
	}
}

// TestState: one read of /proc/PID/stat gives a live process's start time, and SelfStart is
// this process's.
func TestState(t *testing.T) {
	exited, start, err := pids.State(os.Getpid())
	if err != nil || exited {
		t.Fatalf("State(self) = %v, %d, %v", exited, start, err)
	}
	if want, _ := pids.StartTime(os.Getpid()); start != want || pids.SelfStart() != want || want == 0 {
		t.Fatalf("State(self) start %d, SelfStart %d, StartTime %d", start, pids.SelfStart(), want)
	}
	if !pids.AliveSince(os.Getpid(), start) || pids.AliveSince(os.Getpid(), start+1) {
		t.Fatal("AliveSince(self) does not tell its own start time from another")
	}
	if _, _, err := pids.State(-1); !pids.Missing(err) {
		t.Fatalf("State(-1): error %v", err)
	}
}
