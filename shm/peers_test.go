package shm_test

import (
	"os"
	"testing"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
)

// A segment's creator records itself in the peer table; a pid that the table records with
// another start time than its current holder's is dead, one recorded with the right one alive,
// one the table does not know is judged by its pid.
func TestPeerTable(t *testing.T) {
	s, err := shm.Create(1<<16, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the helpers' cleanups, which write into it
	peers, err := s.Peers()
	if err != nil || len(peers) != 1 || peers[0].Pid != os.Getpid() || !peers[0].Alive {
		t.Fatalf("peers of a new segment: %+v, %v", peers, err)
	}
	pid, real := testutil.ReusedPid(t, s)
	if s.PeerAlive(pid) {
		t.Fatalf("pid %d, recorded with another start time, reported alive", pid)
	}
	if !pids.Alive(pid) {
		t.Fatalf("the sleeper %d is not alive", pid)
	}
	testutil.LivePeer(t, s, pid, real)
	if !s.PeerAlive(pid) {
		t.Fatalf("pid %d, recorded with its own start time too, reported dead", pid)
	}
	if !s.PeerAlive(1) || s.PeerAlive(pids.Max+5) {
		t.Fatal("an unrecorded pid is not judged by pids.Alive")
	}
	peers, _ = s.Peers()
	if len(peers) != 3 {
		t.Fatalf("peers: %+v, want 3", peers)
	}
}
