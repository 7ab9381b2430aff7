package manager

import (
	"bytes"
	"sync/atomic"
)

// Readers take no lock. A reader loads the table word, probes the table, reads the entry it finds
// and then validates: the slot still holds the word it read, and the header still names the same
// table. Entries are never written after publication and a block is freed only after it was
// unpublished, and every word carries its block's generation; so if both words are unchanged after
// the read, the block was live and unchanged during it, and what was read is a whole entry. If
// either changed, the reader starts again. After maxOptimistic failed rounds (writers keep
// changing what it reads) it takes the lock, so every read finishes.
const maxOptimistic = 64

// found is the result of a lock-free lookup: where the key was seen, to validate the read.
type found struct {
	tw   uint64  // the table word the lookup used
	slot *uint64 // the slot the key was found in (nil: not found)
	w    uint64  // the entry word in the slot
	e    entry   // a view of the entry (valid only if validate says so)
}

// valid reports whether what was read through f is still what the dict holds (see above).
func (c *core) valid(f *found) bool {
	if f.slot != nil && atomic.LoadUint64(f.slot) != f.w {
		return false
	}
	return atomic.LoadUint64(c.wTable) == f.tw
}

// lookup probes the current table for key without a lock. A key found is returned in f with a
// view of its entry, to be read and then validated with valid; a key not found is absent if valid
// then says so. err is ErrCorrupt for a table or slot no correct writer leaves, confirmed by valid.
func (c *core) lookup(key []byte, h uint64) (f found, ok bool, err error) {
	t, err := c.current(true)
	if err != nil {
		return found{}, false, err
	}
	f.tw = t.word
	n := uint64(len(t.slots))
	mask := n - 1
	i := h & mask
	for probes := uint64(0); probes < n; {
		s := &t.slots[i]
		w := atomic.LoadUint64(s)
		if w == 0 {
			return f, false, nil
		}
		if w != tomb {
			e, eok := c.entryAt(w)
			if eok && e.hash == h && bytes.Equal(e.key, key) {
				f.slot, f.w, f.e = s, w, e
				return f, true, nil
			}
			// A mismatch read from a block that was replaced meanwhile proves nothing: look at the
			// slot again.
			if atomic.LoadUint64(s) != w {
				continue
			}
			if !eok {
				if atomic.LoadUint64(c.wTable) != f.tw {
					return f, false, nil // the caller's validation fails and it retries
				}
				return f, false, corrupt("slot %d holds %#x", i, w)
			}
		}
		i = (i + 1) & mask
		probes++
	}
	return f, false, nil
}
