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
	// Not yet reaped: a zombie once it exits, which counts as dead.
	for deadline := time.Now().Add(5 * time.Second); pids.Alive(zombie.Process.Pid); {
		if time.Now().After(deadline) {
			t.Fatalf("exited, unreaped child %d still reported alive", zombie.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
	zombie.Wait()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if pids.Alive(cmd.Process.Pid) {
		t.Fatalf("a reaped child (%d) is reported alive", cmd.Process.Pid)
	}
}
