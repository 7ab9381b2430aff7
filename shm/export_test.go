package shm

import "os"

// Test hooks for the external tests.

// CorruptHead overwrites the free-list head of class c, as a buggy or hostile peer could.
func CorruptHead(h *Heap, c int, v uint64) { h.corruptHead(c, v) }

// CorruptBump overwrites the heap's bump pointer.
func CorruptBump(h *Heap, v uint64) { *h.seg.u64(offBump) = v }

// ClassOf exposes the size class of an allocation of n payload bytes.
func ClassOf(n int) int { return classOf((uint64(n) + 2*unit - 1) / unit) }

// OffBump is the header offset of the bump pointer.
const OffBump = offBump

// Inheritable and Adopt are the hooks proc reaches through internal/inherit.
func Inheritable() []*Segment { return inheritable() }

// Adopt is adopt, for the external tests.
func Adopt(f *os.File) (*Segment, error) { return adopt(f) }

// OffCreator and OffCreatorStart are the header offsets of the creator's pid and start time.
const (
	OffCreator      = offCreator
	OffCreatorStart = offCrStart
)

// SetShard makes this process use free-list shard n of s's heap, as a process in another peer
// slot would.
func SetShard(s *Segment, n int) { s.shard = n }

// Shard returns this process's free-list shard in s.
func Shard(s *Segment) int { return s.shard }

// NumShards is how many free-list shards the small classes have.
const NumShards = numShards

// ClaimShardFor writes into s's shard table that the process pid, started at start, has
// claimed shard i, as that process would have.
func ClaimShardFor(s *Segment, i, pid int, start uint64) {
	*s.u64(offShardOwners + 8*uint64(i)) = peerWord(pid, start)
}
