package ring

import (
	"github.com/shmkit/shmkit/internal/robust"
)

// self is this process's pid as stored in shared words: owner of a lock, writer or reader of a
// record. Linux pids fit in 22 bits (PID_MAX_LIMIT), so a pid fits the 24 bits a record's state
// word has for it.
var self = int(robust.Self)

// alive reports whether the process that stored pid in a record of q exists and has not exited
// (a zombie counts as dead: it will never touch shared memory again): its pid and the start time
// that the segment's peer table records for it (shm.Segment.PeerAlive), so a pid reused by an
// unrelated process does not keep a dead writer or reader alive. Slow paths only.
func (q *Queue) alive(pid int) bool { return pid == self || q.seg.PeerAlive(pid) }

// The producer and consumer locks are internal/robust's mutex word (the one lock's Lock uses):
// 64 bits, the owner's pid in bits 0..21, waiters bit 22, recovered bit 23, the rest 0. A waiter
// spins, then parks in slices (1 ms doubling to 100 ms) and takes the lock over from an owner that
// died; what the owner did under the lock is idempotent, so the takeover is not reported. The
// goroutines of this process take turns on a Go mutex first (local.pmu, local.cmu), so a word
// naming this process is left over from a dead process whose pid we reuse, or a scribble: it is
// taken over (OwnSelf). A word no process writes (bits it never sets) is ErrCorrupt.
var (
	kindProducer = &robust.Kind{What: "ring: producer lock", OwnSelf: true, Corrupt: ErrCorrupt}
	kindConsumer = &robust.Kind{What: "ring: consumer lock", OwnSelf: true, Corrupt: ErrCorrupt}
)
