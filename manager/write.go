package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/shmkit/shmkit/futex"
)

// Writers hold the structure's robust lock. A write goes:
//
//  1. lock; if the lock was taken over from a dead holder, repair (below);
//  2. seq += 1 (odd: a write is in progress);
//  3. allocate and fill any new entry or table (unreachable so far);
//  4. record in the log what the publication replaces and what it publishes;
//  5. publish with one atomic store (a slot of the table, or the header's table word);
//  6. adjust count and used; free what was replaced; clear the log;
//  7. seq += 1 (even), wake watchers, unlock.
//
// A writer killed anywhere leaves every slot holding a whole entry (entries are filled before
// they are published and never written after) and the lock held by a dead pid. The next writer's
// lock takes it over and repair makes the structure exact again: it frees the logged entry or
// table that is not reachable from the current table (the one the dead writer had allocated but
// not published, or had unpublished but not freed), recounts count and used from the table, and
// makes seq even. The heap refuses a Free of a block already freed, or freed and reused (the
// generation in the word differs), so repair never frees twice what the dead writer freed.

// lockW takes the write lock (bounded by ctx), repairs what a dead holder left,
// and marks a write in progress. unlockW undoes it.
func (c *core) lockW(ctx context.Context, dict bool) error {
	if err := c.lockR(ctx, dict); err != nil {
		return err
	}
	atomic.AddUint32(c.wSeq, 1)
	return nil
}

// lockR takes the lock for a read that writers kept from finishing without it (and repairs, as
// lockW does), without marking a write: watchers see no change. unlockR releases it.
func (c *core) lockR(ctx context.Context, dict bool) error {
	var err error
	if ctx.Done() != nil {
		err = c.lk.LockContext(ctx)
	} else {
		err = c.lk.Lock()
	}
	if err != nil {
		return fmt.Errorf("manager: lock: %w", err)
	}
	if c.lk.Recovered() {
		if err := c.repair(dict); err != nil {
			c.lk.Unlock()
			return err
		}
	}
	return nil
}

func (c *core) unlockR() error {
	if err := c.lk.Unlock(); err != nil {
		return fmt.Errorf("manager: unlock: %w", err)
	}
	return nil
}

// unlockW ends a write: seq even again, watchers woken, lock released.
func (c *core) unlockW() error {
	s := atomic.AddUint32(c.wSeq, 1)
	if s&1 != 0 { // a repair or a corrupt word left it odd: make it even
		atomic.AddUint32(c.wSeq, 1)
	}
	c.wake()
	if err := c.lk.Unlock(); err != nil {
		return fmt.Errorf("manager: unlock: %w", err)
	}
	return nil
}

// wake wakes the watchers parked on seq, in every process, if any may be parked. The store to seq
// comes before the load of watchers, and a watcher's increment of watchers comes before its load
// of seq (all sequentially consistent): either the writer sees the watcher, or the watcher sees
// the new seq and does not sleep.
func (c *core) wake() {
	if atomic.LoadUint32(c.wWatch) != 0 {
		futex.Wake(c.wSeq, math.MaxInt32)
	}
}

// Points inside a write at which the kill tests stop a writer (through testHook, set only by
// tests in a child process) to kill it there.
const (
	atEntryLogged    = iota + 1 // an entry write logged, not yet published
	atEntryPublished            // an entry published, the replaced one not yet freed
	atGrowFilling               // a new table half filled, not published
	atGrowPublished             // a new table published, the old one not yet freed
	atClearPublished            // Clear's empty table published, the old entries not yet freed
	numHookPoints    = atClearPublished
)

// testHook, when set (tests only), is called at the points above.
var testHook func(point int)

func hook(point int) {
	if testHook != nil {
		testHook(point)
	}
}

// repairs counts, in this process, the repairs made and what they found: a table operation (a
// grow, a clear, a list rebuild) or an entry write in flight. The kill tests read it.
var repairs struct{ all, table, entry atomic.Int64 }

// repair makes the structure exact after a writer died holding the lock; the caller holds it.
func (c *core) repair(dict bool) error {
	repairs.all.Add(1)
	if atomic.LoadUint64(c.wPending) != 0 || atomic.LoadUint64(c.wRetired) != 0 {
		repairs.table.Add(1)
	}
	if atomic.LoadUint64(c.wLogTab) != 0 {
		repairs.entry.Add(1)
	}
	tw := atomic.LoadUint64(c.wTable)
	// A grow, clear or rebuild in flight: the table it was building, if not published, is garbage;
	// the table it replaced, if published over, is freed (with its entries for a clear).
	if p := atomic.LoadUint64(c.wPending); p != 0 {
		if p != tw {
			c.freeTable(p) // an error means the dead writer freed it already
		}
		atomic.StoreUint64(c.wPending, 0)
	}
	if r := atomic.LoadUint64(c.wRetired); r != 0 {
		if r != tw {
			if atomic.LoadUint32(c.wRetKind) == retireAll {
				if t, err := c.tableAt(r, false); err == nil {
					for i := range t.slots {
						c.freeEntry(atomic.LoadUint64(&t.slots[i]))
					}
				}
			}
			c.freeTable(r)
		}
		atomic.StoreUint64(c.wRetired, 0)
	}
	t, err := c.tableAt(tw, dict)
	if err != nil {
		return err
	}
	// An entry write in flight: free whichever of the two words is not in its slot.
	if lt := atomic.LoadUint64(c.wLogTab); lt != 0 {
		slot := atomic.LoadUint64(c.wLogSlot)
		var cur uint64
		if lt == tw && slot < uint64(len(t.slots)) {
			cur = atomic.LoadUint64(&t.slots[slot])
		}
		for _, w := range []uint64{atomic.LoadUint64(c.wLogOld), atomic.LoadUint64(c.wLogNew)} {
			if w > tomb && w != cur && !(lt != tw && c.reachable(t, w)) {
				c.freeEntry(w)
			}
		}
		c.clearLog()
	}
	if !dict {
		// Slots past the length hold only an Append that did not publish its length, or a Pop of
		// the last element that had not cleared its slot: free them and clear them.
		n := listLen(t)
		for i := n; i < uint64(len(t.slots)); i++ {
			if w := atomic.LoadUint64(&t.slots[i]); w != 0 {
				c.freeEntry(w)
				atomic.StoreUint64(&t.slots[i], 0)
			}
		}
	}
	if dict {
		var live, used uint64
		for i := range t.slots {
			switch w := atomic.LoadUint64(&t.slots[i]); {
			case w == tomb:
				used++
			case w != 0:
				live++
				used++
			}
		}
		atomic.StoreUint64(c.wCount, live)
		atomic.StoreUint64(c.wUsed, used)
	}
	if s := atomic.LoadUint32(c.wSeq); s&1 != 0 {
		atomic.AddUint32(c.wSeq, 1)
	}
	return nil
}

// reachable reports whether word w is in table t (a slow scan, for repair only).
func (c *core) reachable(t *table, w uint64) bool {
	for i := range t.slots {
		if atomic.LoadUint64(&t.slots[i]) == w {
			return true
		}
	}
	return false
}

// logWrite records the write about to be published; clearLog ends it. The new word is stored last:
// repair acts on a log whose table word is set.
func (c *core) logWrite(tw, slot, old, nw uint64) {
	atomic.StoreUint64(c.wLogSlot, slot)
	atomic.StoreUint64(c.wLogOld, old)
	atomic.StoreUint64(c.wLogNew, nw)
	atomic.StoreUint64(c.wLogTab, tw)
}

func (c *core) clearLog() {
	atomic.StoreUint64(c.wLogTab, 0)
	atomic.StoreUint64(c.wLogOld, 0)
	atomic.StoreUint64(c.wLogNew, 0)
	atomic.StoreUint64(c.wLogSlot, 0)
}

// probe finds key in table t, which the caller holds the lock on (no validation needed): the
// slot holding it (found), or the slot where it would go (the first tombstone or the empty slot
// ending the probe). free is false when the table has no slot for it.
func (c *core) probe(t *table, key []byte, h uint64) (slot uint64, w uint64, found, free bool, err error) {
	n := uint64(len(t.slots))
	mask := n - 1
	first := uint64(math.MaxUint64)
	i := h & mask
	for range n {
		w := atomic.LoadUint64(&t.slots[i])
		switch {
		case w == 0:
			if first == math.MaxUint64 {
				first = i
			}
			return first, 0, false, true, nil
		case w == tomb:
			if first == math.MaxUint64 {
				first = i
			}
		default:
			e, ok := c.entryAt(w)
			if !ok {
				return 0, 0, false, false, corrupt("slot %d holds %#x", i, w)
			}
			if e.hash == h && bytes.Equal(e.key, key) {
				return i, w, true, true, nil
			}
		}
		i = (i + 1) & mask
	}
	if first != math.MaxUint64 {
		return first, 0, false, true, nil
	}
	return 0, 0, false, false, nil
}

// resize replaces the dict's table by one with room for one more live entry at a load of at most
// one half, rehashing every entry (the entry blocks are shared, not copied); the live entries are
// counted from the table, not taken from the count word. The caller holds the lock. A writer
// killed here leaves the old table published and whole.
func (c *core) resize(t *table) (*table, error) {
	var live uint64
	for i := range t.slots {
		if w := atomic.LoadUint64(&t.slots[i]); w > tomb {
			live++
		}
	}
	nt, err := c.allocTable(nextPow2(2 * (live + 1)))
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(c.wPending, nt.word)
	mask := uint64(len(nt.slots)) - 1
	for i := range t.slots {
		w := atomic.LoadUint64(&t.slots[i])
		if w <= tomb {
			continue
		}
		e, ok := c.entryAt(w)
		if !ok {
			atomic.StoreUint64(c.wPending, 0)
			return nil, errors.Join(corrupt("slot %d holds %#x", i, w), c.freeTable(nt.word))
		}
		j := e.hash & mask
		for atomic.LoadUint64(&nt.slots[j]) != 0 {
			j = (j + 1) & mask
		}
		atomic.StoreUint64(&nt.slots[j], w)
		if i == len(t.slots)/2 {
			hook(atGrowFilling)
		}
	}
	c.publishTable(t.word, nt, retireTable, live, live)
	return nt, nil
}

// publishTable makes nt the current table in place of the one whose word is old, and frees the old
// one (with its entries when kind is retireAll).
func (c *core) publishTable(old uint64, nt *table, kind uint32, count, used uint64) {
	atomic.StoreUint32(c.wRetKind, kind)
	atomic.StoreUint64(c.wRetired, old)
	// The publication: from this store on, readers that load the table word use nt.
	atomic.StoreUint64(c.wTable, nt.word)
	atomic.StoreUint64(c.wCount, count)
	atomic.StoreUint64(c.wUsed, used)
	atomic.StoreUint64(c.wPending, 0)
	c.tab.Store(nt)
	if kind == retireAll {
		hook(atClearPublished)
	} else {
		hook(atGrowPublished)
	}
	if kind == retireAll {
		if t, err := c.tableAt(old, false); err == nil {
			for i := range t.slots {
				c.freeEntry(atomic.LoadUint64(&t.slots[i]))
			}
		}
	}
	c.freeTable(old)
	atomic.StoreUint64(c.wRetired, 0)
}
