package pids_test

import (
	"os"
	"os/exec"
	"testing"

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
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if pids.Alive(cmd.Process.Pid) {
		t.Fatalf("a reaped child (%d) is reported alive", cmd.Process.Pid)
	}
}
