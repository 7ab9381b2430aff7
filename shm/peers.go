package shm

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/pids"
)

// The peer table: which processes have attached to a segment, each with its start time, so that
// a pid that the objects inside store (a semaphore's holders, a barrier's parties, a ring record's
// writer or reader) can be told apart from a later, unrelated process that reuses the number.
//
// It sits in the segment header at offPeers: numPeers 64-bit words, each
//
//	bits  0..21  pid (0: free entry)
//	bits 22..63  the low 42 bits of the process's start time (clock ticks since boot: at 100 Hz,
//	             42 bits span 1,394 years of uptime, so nothing is lost; 0: not known)
//
// A process adds its entry when it creates, opens or adopts the segment, once per mapping (an
// atomic scan of the table: never on a hot path). When the table is full it first clears the
// entries of processes whose pid no longer exists at all (kill(pid, 0) fails): that loses nothing,
// since the fallback for a pid with no entry (pids.Alive) says the same of them; entries whose
// pid now belongs to another process are kept, as they still tell the dead owner from the new
// one. A process that finds the table full of live entries stays unrecorded, and its pid is then
// judged by pids.Alive alone (as are peers that do not record themselves, such as Python).
const (
	// PeersOffset is where the peer table starts in a segment's header.
	PeersOffset = 2048
	// NumPeers is how many entries the peer table has.
	NumPeers = 256
	// PeerStartShift is where an entry's start time begins (its pid fills the bits below).
	PeerStartShift = 22

	offPeers   = PeersOffset
	numPeers   = NumPeers
	peerPidMsk = 1<<PeerStartShift - 1
	peerStartB = 64 - PeerStartShift
)

// peerWord is this process's entry.
func peerWord(pid int, start uint64) uint64 {
	return uint64(pid)&peerPidMsk | (start&(1<<peerStartB-1))<<22
}

// recordSelf adds this process to s's peer table (see above); it is done once per mapping.
// Errors (a truncated named segment) are ignored: the process is then merely unrecorded.
func (s *Segment) recordSelf() {
	me := peerWord(selfPid, pids.SelfStart())
	guard(func() error {
		for pass := 0; pass < 2; pass++ {
			for i := 0; i < numPeers; i++ {
				w := s.u64(offPeers + 8*uint64(i))
				v := atomic.LoadUint64(w)
				if v == me || v == 0 && atomic.CompareAndSwapUint64(w, 0, me) {
					s.shard = s.claimShard(me, i)
					return nil
				}
			}
			// Full: clear the entries of pids that no process holds any more.
			for i := 0; i < numPeers; i++ {
				w := s.u64(offPeers + 8*uint64(i))
				v := atomic.LoadUint64(w)
				if v != 0 && !pids.Alive(int(v&peerPidMsk)) {
					atomic.CompareAndSwapUint64(w, v, 0)
				}
			}
		}
		return nil
	})
}

// claimShard picks this process's free-list shard (heap.go): one that no live process has
// claimed, claimed in the header's shard table, so that up to numShards processes using the heap
// at once each have their own whatever processes came and went before; with every shard claimed
// by a live process, the one of its peer slot. It looks in three passes, cheapest first, since
// every process start pays for them: a shard never claimed; one whose claimant's pid no longer
// exists (kill(pid, 0), no /proc read); one whose claimant is dead by its start time, which reads
// /proc for each claim whose pid exists.
func (s *Segment) claimShard(me uint64, slot int) int {
	for pass := range 3 {
		for i := 0; i < numShards; i++ {
			w := s.u64(offShardOwners + 8*uint64(i))
			v := atomic.LoadUint64(w)
			if v == me {
				return i
			}
			pid := int(v & peerPidMsk)
			free := v == 0 || pass == 1 && pids.Gone(pid) || pass == 2 && !aliveMasked(pid, v>>PeerStartShift)
			if free && atomic.CompareAndSwapUint64(w, v, me) {
				return i
			}
		}
	}
	return slot % numShards
}

// PeerAlive reports whether the process that stored pid in an object of this segment can still
// be alive, using the start times of the segment's peer table: when the table has entries for
// pid, the process is alive only if one of them matches the start time of the process that holds
// the pid now (pids.AliveSince); a pid the table does not know is judged by pids.Alive alone.
// A pid reused by an unrelated process is therefore dead to PeerAlive as long as the dead owner
// had recorded itself; when two recorded peers of the segment shared the pid (the number wrapped
// around onto another peer), it answers alive while the later one lives, the cautious answer.
// This process is always alive. It reads /proc and scans the table: call it on slow paths only.
// Processes must share one pid namespace (see pids.AliveSince).
func (s *Segment) PeerAlive(pid int) bool {
	if pid == selfPid {
		return true
	}
	if !pids.Valid(pid) || s == nil || s.raw || s.closed.Load() {
		return pids.Alive(pid)
	}
	known, alive, exited := false, false, false
	var now uint64
	var nowErr error
	err := guard(func() error {
		for i := 0; i < numPeers && !alive; i++ {
			v := atomic.LoadUint64(s.u64(offPeers + 8*uint64(i)))
			if v == 0 || int(v&peerPidMsk) != pid {
				continue
			}
			known = true
			start := v >> 22
			if start == 0 {
				alive = pids.Alive(pid) // recorded without a start time
				continue
			}
			if now == 0 && nowErr == nil {
				exited, now, nowErr = pids.State(pid)
			}
			if nowErr == nil && now&(1<<peerStartB-1) == start {
				alive = !exited // same process, unless it is a zombie
			}
		}
		return nil
	})
	if err != nil || !known {
		return pids.Alive(pid)
	}
	if !alive && nowErr != nil && !pids.Missing(nowErr) {
		return true // /proc could not be read: wait rather than seize
	}
	return alive
}

// Peer is one entry of a segment's peer table, as Peers reads it.
type Peer struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start,omitempty"` // low 42 bits of the start time; 0: not recorded
	Alive bool   `json:"alive"`           // pid and start time match a live process
}

// Peers returns the processes recorded in s's peer table (see PeerAlive), each with whether it is
// alive. It validates what it reads and never panics, whatever a peer wrote.
func (s *Segment) Peers() (out []Peer, err error) {
	if s == nil || s.raw {
		return nil, nil
	}
	var hdr [HeaderSize]byte
	err = guard(func() error {
		for i := offPeers; i < HeaderSize; i += 8 {
			binary.LittleEndian.PutUint64(hdr[i:], atomic.LoadUint64(s.u64(uint64(i))))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parsePeers(hdr[:]), nil
}

func pidValid(pid int) bool { return pids.Valid(pid) }

func aliveMasked(pid int, start uint64) bool { return pids.AliveSinceMasked(pid, start, peerStartB) }
