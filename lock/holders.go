package lock

import (
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// holders is a small table, inside a shared block, of how many units each process holds (of a
// Semaphore, or read locks of an RWLock), so that the units of a process that died can be given
// back. An entry's process is alive when its pid and the start time the segment's peer table
// records for it agree with a live process (shm.Segment.PeerAlive): a pid reused by an unrelated
// process does not keep a dead holder's units. Each entry is a 64-bit word:
//
//	bits 32..53 pid (0: free entry); bits 54..63 always 0
//	bits  0..31 units held by that process
//
// A process claims an entry the first time it acquires, and keeps it while it lives; only the
// owning process changes its count, and any process may clear the entry of a process that is dead.
// When every entry is taken by live processes, a new process's units are not tracked (and not
// recovered if it dies); a handle that once found the table full stays untracked.
const (
	holderSlots = 16
	holdersSize = 8 * holderSlots
)

type holders struct {
	e    [holderSlots]*uint64
	slot atomic.Int32 // this process's entry: -1 not yet claimed, -2 table full when last tried
	seg  *shm.Segment // the segment of the table, whose peer table has the start times
}

func (h *holders) init(words func(i int) *uint64, seg *shm.Segment) {
	for i := range h.e {
		h.e[i] = words(i)
	}
	h.slot.Store(-1)
	h.seg = seg
}

func entryPid(v uint64) uint32 { return uint32(v >> 32) }

// claimMu serialises this process's claims of holders entries (see mine).
var claimMu sync.Mutex

// mine returns this process's entry, claiming one if needed (reclaiming entries of dead processes
// when the table is full, through reclaim); nil when the table is full.
func (h *holders) mine(reclaim func(units uint32)) *uint64 {
	switch s := h.slot.Load(); {
	case s >= 0:
		return h.e[s]
	case s == -2:
		return nil // the table was full: this handle stays untracked rather than rescan each time
	}
	// Goroutines (and handles) of this process claim one at a time: two that both scanned before
	// either claimed would each take an entry, and a release counted against the other entry
	// would then look like a release of units never acquired.
	claimMu.Lock()
	defer claimMu.Unlock()
	for i, w := range h.e {
		if entryPid(atomic.LoadUint64(w)) == self {
			h.slot.Store(int32(i))
			return w
		}
	}
	for pass := 0; pass < 2; pass++ {
		for i, w := range h.e {
			if atomic.CompareAndSwapUint64(w, 0, uint64(self)<<32) {
				h.slot.Store(int32(i))
				return w
			}
		}
		if pass == 0 {
			h.reap(reclaim)
		}
	}
	h.slot.Store(-2)
	return nil
}

// add records n more units held by this process (when it has an entry).
func (h *holders) add(n uint32, reclaim func(uint32)) {
	if w := h.mine(reclaim); w != nil {
		atomic.AddUint64(w, uint64(n))
	}
}

// sub records up to n units released by this process and returns how many it had recorded (so a
// release of units this process never acquired leaves the table alone). tracked is false when the
// process has no entry.
func (h *holders) sub(n uint32) (had uint32, tracked bool) {
	s := h.slot.Load()
	if s < 0 {
		for i, w := range h.e {
			if entryPid(atomic.LoadUint64(w)) == self {
				h.slot.Store(int32(i))
				s = int32(i)
				break
			}
		}
		if s < 0 {
			return 0, false
		}
	}
	w := h.e[s]
	for {
		v := atomic.LoadUint64(w)
		if entryPid(v) != self {
			h.slot.Store(-1) // cleared under us (cannot happen while we live); re-claim later
			return 0, false
		}
		held := uint32(v)
		take := min(held, n)
		if take == 0 || atomic.CompareAndSwapUint64(w, v, v-uint64(take)) {
			return held, true
		}
	}
}

// reap clears the entries of dead processes and passes each one's units to reclaim; it returns
// the total number of units recovered. An entry whose pid is out of range is corrupt and cleared.
func (h *holders) reap(reclaim func(units uint32)) (total uint32) {
	for _, w := range h.e {
		v := atomic.LoadUint64(w)
		pid := entryPid(v)
		if v == 0 || pid == self {
			continue
		}
		if pid != 0 && pid <= pidMask && peerAlive(h.seg, pid) {
			continue
		}
		if atomic.CompareAndSwapUint64(w, v, 0) && pid != 0 && pid <= pidMask {
			if n := uint32(v); n > 0 {
				total += n
				reclaim(n)
			}
		}
	}
	return total
}
