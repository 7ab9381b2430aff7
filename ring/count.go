package ring

import (
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/fence"
)

// The message counts. Each side keeps one word: the producers' counts the records published,
// the consumers' the records passed (taken, or skipped as abandoned). Each word also names the
// position up to which it counts (its tag), and a side moves its count and its tag with one
// store, after the records are published (or passed) and before its index (tail, read, or the
// single consumer's head) moves past them. So whoever finds the index behind the records knows
// from the tag whether they were counted: a process killed at any instant of a step leaves a
// state from which the next one finishes the step exactly once (countStep). Len is the
// difference of the two counts.
//
// A count word is count<<tagBits | (pos>>4 mod 2^tagBits). Positions that one step compares lie
// less than 2^31 bytes apart (a step spans at most the ring, at most 1 GiB), so the tag tells
// them apart. Counts wrap at 2^(64-tagBits): differences are taken modulo that.
const (
	tagBits   = 27
	tagMask   = 1<<tagBits - 1
	countBits = 64 - tagBits
	countOne  = 1 << tagBits
)

func tagOf(pos uint64) uint64 { return pos >> 4 & tagMask }

// countStep records, in the count word c, that the side's index passes from pos to next over
// msgs message records (0 or more), unless that was recorded already: the word names pos (not
// yet recorded: count and move the tag to next) or next (recorded by a process that died before
// it moved the index: leave it). Any other tag is ErrCorrupt. Only the side's index owner (the
// lock holder, or the single producer or consumer) calls it.
func countStep(c *uint64, pos, next, msgs uint64) error {
	switch w := atomic.LoadUint64(c); w & tagMask {
	case tagOf(pos):
		count(c, w, next, msgs)
	case tagOf(next):
	default:
		return corrupt("count word tagged %#x at index %d (next %d)", w&tagMask, pos, next)
	}
	return nil
}

// count stores in c, whose value was w, msgs more records up to position next.
func count(c *uint64, w, next, msgs uint64) {
	fence.StoreRelease(c, (w&^tagMask+msgs*countOne)|tagOf(next))
}

// checkTag reports ErrCorrupt unless the count word c counts up to position pos.
func checkTag(c *uint64, pos uint64, name string) error {
	if w := atomic.LoadUint64(c); w&tagMask != tagOf(pos) {
		return corrupt("%s count tagged %#x, index at %d", name, w&tagMask, pos)
	}
	return nil
}

// testHook, set only by this package's tests (export_test.go), is called at the named instants
// of the counted steps, so that a test can stop and kill a process exactly there.
var testHook func(site string)

func hook(site string) {
	if testHook != nil {
		testHook(site)
	}
}

// countDiff returns how many records the put count p has over the got count g, 0 when it has
// fewer (for a moment a consumer may count a record that its dead producer published but did
// not count, until the next producer counts it).
func countDiff(p, g uint64) uint64 {
	d := (p>>tagBits - g>>tagBits) & (1<<countBits - 1)
	if d >= 1<<(countBits-1) {
		return 0
	}
	return d
}

// msgCount is how many messages a record with state word w counts for: none for padding, one for
// any other record (reserved, committed, taken or abandoned: a record counts on both sides).
func msgCount(w uint32) uint64 {
	if stateOf(w) == stSkip {
		return 0
	}
	return 1
}
