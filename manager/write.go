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

// Writers hold a stripe's robust lock: a Dict's write of one key holds the key's stripe (so
// writers of keys in different stripes run at once), a table operation (a grow, Clear, Free) and
// every List write hold every stripe (a List has one). A write goes:
//
//  1. lock; if the lock was taken over from a dead holder, repair (below);
//  2. the stripe's seq += 1 (odd: a write is in progress);
//  3. allocate and fill any new entry or table (unreachable so far);
//  4. record in the stripe's log what the publication replaces and what it publishes;
//  5. publish with one atomic store or compare-and-swap (a slot of the table, or the header's
//     table word);
//  6. adjust the stripe's count and the used count; free what was replaced; clear the log;
//  7. seq += 1 (even); if a watch exists, gen += 1 and wake the watchers; unlock.
//
// Slots are shared between stripes: a key's slot is written only by its stripe's holder, but an
// empty slot or a tombstone may be claimed by an insert of any stripe, so inserts claim it by
// compare-and-swap and probe again when another stripe got it first.
//
// A writer killed anywhere leaves every slot holding a whole entry (entries are filled before
// they are published and never written after) and its stripes held by a dead pid. The next writer
// of a stripe takes the lock over and repair makes what the stripe guards exact again: it frees
// the logged entry that is not reachable from the current table (the one the dead writer had
// allocated but not published, or had unpublished but not freed), finishes or undoes a table
// operation in flight, recounts the stripe's live entries from the table, and makes seq even. The
// heap refuses a Free of a block already freed, or freed and reused (the generation in the word
// differs), so repair never frees twice what the dead writer freed, even when two processes
// repair two stripes a dead table operation held at once.

// lockStripe takes stripe x (bounded by ctx), repairs what a dead holder left, and, for a write,
// marks a write in progress. unlockStripe undoes it.
func (c *core) lockStripe(ctx context.Context, x *stripe, write bool) error {
	var err error
	if ctx.Done() != nil {
		err = x.lk.LockContext(ctx)
	} else {
		err = x.lk.Lock()
	}
	if err != nil {
		return fmt.Errorf("manager: lock: %w", err)
	}
	if x.lk.Recovered() {
		if err := c.repair(x); err != nil {
			x.lk.Unlock()
			return err
		}
	}
	if write {
		atomic.AddUint32(x.seq, 1)
	}
	return nil
}

// unlockStripe ends what lockStripe began: for a write, seq even again and watchers woken.
func (c *core) unlockStripe(x *stripe, write bool) error {
	if write {
		c.ended(x)
		c.changed()
	}
	if err := x.lk.Unlock(); err != nil {
		return fmt.Errorf("manager: unlock: %w", err)
	}
	return nil
}

// ended makes x's seq even after a write.
func (c *core) ended(x *stripe) {
	if s := atomic.AddUint32(x.seq, 1); s&1 != 0 { // a repair or a corrupt word left it odd
		atomic.AddUint32(x.seq, 1)
	}
}

// lockAll takes every stripe, in order (so two lockAlls never deadlock, and a writer of one key
// never waits for a second stripe while it holds one), for a table operation (write) or a read
// that writers kept from finishing. unlockAll releases them.
func (c *core) lockAll(ctx context.Context, write bool) error {
	for i := range c.st {
		if err := c.lockStripe(ctx, &c.st[i], write); err != nil {
			for j := i - 1; j >= 0; j-- {
				c.unlockStripe(&c.st[j], write)
			}
			return err
		}
		if write && len(c.st) > 1 && i == len(c.st)/2 {
			hook(atLockingAll)
		}
	}
	return nil
}

func (c *core) unlockAll(write bool) error {
	if write {
		for i := range c.st {
			c.ended(&c.st[i])
		}
		c.changed()
	}
	var errs []error
	for i := len(c.st) - 1; i >= 0; i-- {
		if err := c.st[i].lk.Unlock(); err != nil {
			errs = append(errs, fmt.Errorf("manager: unlock: %w", err))
		}
	}
	return errors.Join(errs...)
}

// changed tells watchers, in every process, that a write ended. A write that finds no watcher
// registered skips it: the store that published the write comes before the load of watchers, and
// a watcher's increment of watchers comes before its first read of what it watches (all
// sequentially consistent), so either the writer sees the watcher, or the watcher's read sees the
// write. gen is loaded by watchers before they look, and they park only while it is unchanged.
func (c *core) changed() {
	if atomic.LoadUint32(c.wWatch) != 0 {
		atomic.AddUint32(c.wGen, 1)
		futex.Wake(c.wGen, math.MaxInt32)
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
	atLockingAll                // a grow, Clear or Free holding half of a Dict's stripes
	numHookPoints    = atLockingAll
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

// repair makes what stripe x guards exact after a writer died holding it; the caller holds x.
// It also finishes a table operation the dead writer left (one holds every stripe, so whoever
// takes any of them over may do it: two processes doing it at once free nothing twice, see above).
func (c *core) repair(x *stripe) error {
	repairs.all.Add(1)
	if atomic.LoadUint64(c.wPending) != 0 || atomic.LoadUint64(c.wRetired) != 0 {
		repairs.table.Add(1)
	}
	if atomic.LoadUint64(x.logTab) != 0 {
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
	t, err := c.tableAt(tw, c.dict)
	if err != nil {
		return err
	}
	// An entry write in flight: free whichever of the two words is not in its slot. An insert
	// into an empty slot may have been counted in used or not: count it (used may overestimate,
	// which only brings a grow earlier; it must never underestimate).
	if lt := atomic.LoadUint64(x.logTab); lt != 0 {
		slot := atomic.LoadUint64(x.logSlot)
		old, nw := atomic.LoadUint64(x.logOld), atomic.LoadUint64(x.logNew)
		var cur uint64
		if lt == tw && slot < uint64(len(t.slots)) {
			cur = atomic.LoadUint64(&t.slots[slot])
		}
		for _, w := range []uint64{old, nw} {
			if w > tomb && w != cur && !(lt != tw && c.reachable(t, w)) {
				c.freeEntry(w)
			}
		}
		if c.dict && old == 0 && nw > tomb {
			atomic.AddUint64(c.wUsed, 1)
		}
		x.clearLog()
	}
	if !c.dict {
		// Slots past the length hold only an Append that did not publish its length, or a Pop of
		// the last element that had not cleared its slot: free them and clear them.
		n := listLen(t)
		for i := n; i < uint64(len(t.slots)); i++ {
			if w := atomic.LoadUint64(&t.slots[i]); w != 0 {
				c.freeEntry(w)
				atomic.StoreUint64(&t.slots[i], 0)
			}
		}
	} else {
		atomic.StoreUint64(x.count, c.recount(t, x))
	}
	if s := atomic.LoadUint32(x.seq); s&1 != 0 {
		atomic.AddUint32(x.seq, 1)
	}
	return nil
}

// recount counts the live entries of table t whose keys belong to stripe x, which the caller
// holds: those slots do not change meanwhile, while other stripes' writers may change theirs. An
// entry's hash is trusted only if its slot still holds it after the read (the block was live).
func (c *core) recount(t *table, x *stripe) uint64 {
	var n uint64
	for i := range t.slots {
		s := &t.slots[i]
		w := atomic.LoadUint64(s)
		if w <= tomb {
			continue
		}
		e, ok := c.entryAt(w)
		if ok && atomic.LoadUint64(s) == w && c.stripeOf(e.hash) == x {
			n++
		}
	}
	return n
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

// logWrite records in x's log the write about to be published; clearLog ends it. The table word
// is stored last: repair acts on a log whose table word is set.
func (x *stripe) logWrite(tw, slot, old, nw uint64) {
	atomic.StoreUint64(x.logSlot, slot)
	atomic.StoreUint64(x.logOld, old)
	atomic.StoreUint64(x.logNew, nw)
	atomic.StoreUint64(x.logTab, tw)
}

func (x *stripe) clearLog() {
	atomic.StoreUint64(x.logTab, 0)
	atomic.StoreUint64(x.logOld, 0)
	atomic.StoreUint64(x.logNew, 0)
	atomic.StoreUint64(x.logSlot, 0)
}

// probe finds key in table t; the caller holds the key's stripe, so the key's slot does not
// change meanwhile (no validation needed). It returns the slot holding the key and its word
// (found), or the slot where the key would go (the first tombstone or the empty slot ending the
// probe) and the word it held then (0 or tomb: another stripe's insert may take it first). free
// is false when the table has no slot for it.
func (c *core) probe(t *table, key []byte, h uint64) (slot uint64, w uint64, found, free bool, err error) {
	n := uint64(len(t.slots))
	mask := n - 1
	first := uint64(math.MaxUint64)
	i := h & mask
	for probes := uint64(0); probes < n; {
		w := atomic.LoadUint64(&t.slots[i])
		switch {
		case w == 0:
			if first == math.MaxUint64 {
				return i, 0, false, true, nil
			}
			return first, tomb, false, true, nil
		case w == tomb:
			if first == math.MaxUint64 {
				first = i
			}
		default:
			e, ok := c.entryAt(w)
			if ok && e.hash == h && bytes.Equal(e.key, key) {
				return i, w, true, true, nil
			}
			// Another stripe's slot, whose entry that stripe's writer may have replaced and freed
			// while it was read: what was read proves nothing unless the slot still holds it.
			if atomic.LoadUint64(&t.slots[i]) != w {
				continue
			}
			if !ok {
				return 0, 0, false, false, corrupt("slot %d holds %#x", i, w)
			}
		}
		i = (i + 1) & mask
		probes++
	}
	if first != math.MaxUint64 {
		return first, tomb, false, true, nil
	}
	return 0, 0, false, false, nil
}

// resize replaces the dict's table by one with room for one more live entry at a load of at most
// half the highest (see maxLoadQuarters), rehashing every entry (the entry blocks are shared, not copied); the live entries are
// counted from the table, per stripe, not taken from the count words. The caller holds every
// stripe. A writer killed here leaves the old table published and whole.
func (c *core) resize(t *table) (*table, error) {
	var live uint64
	for i := range t.slots {
		if w := atomic.LoadUint64(&t.slots[i]); w > tomb {
			live++
		}
	}
	nt, err := c.allocTable(nextPow2(6*(live+1)/uint64(maxLoadQuarters.Load()), c.minTable()))
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(c.wPending, nt.word)
	counts := make([]uint64, len(c.st))
	mask := uint64(len(nt.slots)) - 1
	for i := range t.slots {
		if i == len(t.slots)/2 {
			hook(atGrowFilling)
		}
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
		if c.shift < 64 {
			counts[e.hash>>c.shift]++
		} else {
			counts[0]++
		}
	}
	c.publishTable(t.word, nt, retireTable, counts, live)
	return nt, nil
}

// publishTable makes nt the current table in place of the one whose word is old, sets the
// stripes' counts (when counts is not nil) and used, and frees the old table (with its entries
// when kind is retireAll). The caller holds every stripe.
func (c *core) publishTable(old uint64, nt *table, kind uint32, counts []uint64, used uint64) {
	atomic.StoreUint32(c.wRetKind, kind)
	atomic.StoreUint64(c.wRetired, old)
	// The publication: from this store on, readers that load the table word use nt.
	atomic.StoreUint64(c.wTable, nt.word)
	if counts != nil {
		for i := range c.st {
			atomic.StoreUint64(c.st[i].count, counts[i])
		}
	}
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
