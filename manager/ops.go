package manager

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// errGrow is put's answer when the key is new and the table is too full for it: the caller
// releases its stripe, grows the table holding every stripe (grow), and tries again.
var errGrow = errors.New("manager: the table must grow")

// full reports whether table t has no room for one more used slot at its highest load (three
// quarters; see maxLoadQuarters). used never underestimates, and each stripe has at most one
// insert in flight past this check, so with at least 4 slots per stripe a table that passed it
// always has an empty slot left.
func (c *core) full(t *table) bool {
	return atomic.LoadUint64(c.wUsed)+1 > uint64(len(t.slots))/4*uint64(maxLoadQuarters.Load())
}

// maxLoadQuarters is a Dict table's highest load, in quarters: at 3 (the default) a table grows
// when three quarters of its slots are used, to twice its live entries (rounded up to a power of
// two; 6/quarters times in general). At 2 a Get's probe would read another key's entry less often (about once in five Gets
// rather than four in five) for a table twice the size; BenchmarkDictGet/shmkit-load50 measures
// it, and showed no gain on the shared VM (see docs/manager.md). Any value from 1 to 3 keeps the
// guarantee of put; tests change it, nothing else does.
var maxLoadQuarters atomic.Int32

func init() { maxLoadQuarters.Store(3) }

// put publishes a new entry of key and val in stripe x, which the caller holds (lockStripe),
// replacing the key's entry if it has one. It returns whether the key was new, or errGrow when it
// is new and the table is full (only when mayGrow; otherwise the caller made sure of room).
func (c *core) put(x *stripe, key, val []byte, h uint64, mayGrow bool) (added bool, err error) {
	t, err := c.current(true)
	if err != nil {
		return false, err
	}
	slot, old, found, free, err := c.probe(t, key, h)
	if err != nil {
		return false, err
	}
	// An insert into an empty slot must pass the load check; one into a tombstone does not use up
	// a slot (a full heap's Dict takes a key back into a deleted key's slot without growing).
	if !found && mayGrow && (!free || (old == 0 && c.full(t))) {
		return false, errGrow
	}
	if !free {
		return false, corrupt("no free slot in a table of %d", len(t.slots))
	}
	nw, err := c.newEntry(h, key, val)
	if err != nil {
		return false, err
	}
	for {
		x.logWrite(t.word, slot, old, nw)
		hook(atEntryLogged)
		// The publication: a reader that loads the slot from here on reads the new entry whole. The
		// key's own slot changes only under its stripe; a free one may be taken by another stripe.
		if found {
			atomic.StoreUint64(&t.slots[slot], nw)
			break
		}
		if atomic.CompareAndSwapUint64(&t.slots[slot], old, nw) {
			break
		}
		// Another stripe's insert took the slot: probe again.
		if slot, old, found, free, err = c.probe(t, key, h); err == nil && (found || !free) {
			err = corrupt("key's slot taken in a table of %d", len(t.slots))
		}
		if err == nil && mayGrow && old == 0 && c.full(t) {
			err = errGrow
		}
		if err != nil {
			x.clearLog()
			if ferr := c.freeEntry(nw); ferr != nil && err != errGrow {
				err = errors.Join(err, ferr)
			}
			return false, err
		}
	}
	hook(atEntryPublished)
	if !found {
		atomic.AddUint64(x.count, 1)
		if old == 0 {
			atomic.AddUint64(c.wUsed, 1)
		}
	}
	c.freeEntry(old)
	x.clearLog()
	return !found, nil
}

// grow resizes the table holding every stripe, unless another writer replaced table tw meanwhile.
func (c *core) grow(ctx context.Context, tw uint64) (err error) {
	if err := c.lockAll(ctx, true); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.unlockAll(true)) }()
	t, err := c.current(true)
	if err != nil || t.word != tw {
		return err
	}
	_, err = c.resize(t)
	return err
}

// remove removes key's entry, reporting whether it had one. The caller holds the key's stripe x.
func (c *core) remove(x *stripe, key []byte, h uint64) (bool, error) {
	t, err := c.current(true)
	if err != nil {
		return false, err
	}
	slot, old, found, _, err := c.probe(t, key, h)
	if err != nil || !found {
		return false, err
	}
	x.logWrite(t.word, slot, old, tomb)
	hook(atEntryLogged)
	atomic.StoreUint64(&t.slots[slot], tomb)
	hook(atEntryPublished)
	atomic.AddUint64(x.count, ^uint64(0))
	c.freeEntry(old)
	x.clearLog()
	return true, nil
}

// lockedGet returns a view of key's entry; the caller holds the lock, so the view is stable.
func (c *core) lockedGet(key []byte, h uint64) (entry, uint64, bool, error) {
	t, err := c.current(true)
	if err != nil {
		return entry{}, 0, false, err
	}
	_, w, found, _, err := c.probe(t, key, h)
	if err != nil || !found {
		return entry{}, 0, false, err
	}
	e, _ := c.entryAt(w)
	return e, w, true, nil
}

// clearAll replaces the table by an empty one and frees every entry. The caller holds every
// stripe.
func (c *core) clearAll() error {
	t, err := c.current(true)
	if err != nil {
		return err
	}
	nt, err := c.allocTable(c.minTable())
	if err != nil {
		return err
	}
	atomic.StoreUint64(c.wPending, nt.word)
	c.publishTable(t.word, nt, retireAll, make([]uint64, len(c.st)), 0)
	return nil
}

// scan calls fn with every entry of a consistent snapshot: the entries of the table while no
// write was in progress from the first read to the last (every stripe's seq even and unchanged:
// a write that began or ended meanwhile moved its stripe's seq). When writers keep it from getting
// one it takes every stripe (bounded by ctx when not nil). fn gets copies.
func (c *core) scan(ctx context.Context, dict bool, fn func(key, val []byte) error) error {
	var keys, vals [][]byte
	seqs := make([]uint32, len(c.st))
	for try := 0; try < maxOptimistic; try++ {
		busy := false
		for i := range c.st {
			seqs[i] = atomic.LoadUint32(c.st[i].seq)
			busy = busy || seqs[i]&1 != 0
		}
		if busy {
			runtime.Gosched()
			continue
		}
		keys, vals = keys[:0], vals[:0]
		ok, err := c.collect(dict, &keys, &vals)
		for i := range c.st {
			ok = ok && atomic.LoadUint32(c.st[i].seq) == seqs[i]
		}
		if !ok {
			continue
		}
		if err != nil {
			return err
		}
		return deliver(keys, vals, fn)
	}
	if err := c.lockAll(ctx, false); err != nil {
		return err
	}
	keys, vals = keys[:0], vals[:0]
	_, err := c.collect(dict, &keys, &vals)
	if uerr := c.unlockAll(false); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	return deliver(keys, vals, fn)
}

func deliver(keys, vals [][]byte, fn func(key, val []byte) error) error {
	for i := range keys {
		if err := fn(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// collect copies the entries of the current table, in slot order (a List's: its first len
// slots). ok is false when the table word changed during the copy.
func (c *core) collect(dict bool, keys, vals *[][]byte) (ok bool, err error) {
	t, err := c.current(dict)
	if err != nil {
		return false, err
	}
	slots := t.slots
	if !dict {
		ln := listLen(t)
		if ln > uint64(len(slots)) {
			return true, corrupt("list of %d in a table of %d", ln, len(slots))
		}
		slots = slots[:ln]
	}
	for i := range slots {
		w := atomic.LoadUint64(&slots[i])
		if w <= tomb {
			if !dict {
				return true, corrupt("list slot %d holds %#x", i, w)
			}
			continue
		}
		e, eok := c.entryAt(w)
		if atomic.LoadUint64(&slots[i]) != w {
			return false, nil // replaced meanwhile: the lengths may be a reused block's
		}
		if !eok {
			return true, corrupt("slot %d holds %#x", i, w)
		}
		*keys = append(*keys, append([]byte(nil), e.key...))
		*vals = append(*vals, append([]byte(nil), e.val...))
	}
	return atomic.LoadUint64(c.wTable) == t.word, nil
}

// rebuild replaces a List's table t by a new one of size slots and length n, filled by fill from
// t's slots, and publishes it (the entries are shared, not copied). The caller holds the List's
// stripe.
func (c *core) rebuild(t *table, n, size uint64, fill func(dst, src []uint64)) (*table, error) {
	return c.rebuildLogged(t, n, size, ^uint64(0), 0, 0, fill)
}

// rebuildLogged is rebuild that also logs old, an entry the new table drops, and nw, a new entry
// it holds at slot at: if the writer dies before the publication, repair frees nw and keeps old;
// after it, the reverse. The caller frees old and clears the log after the publication.
func (c *core) rebuildLogged(t *table, n, size, at, old, nw uint64, fill func(dst, src []uint64)) (*table, error) {
	nt, err := c.allocTable(max(size, minCap))
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(c.wPending, nt.word)
	fill(nt.slots, t.slots)
	atomic.StoreUint64(shm.Word64(nt.b, tabLen), n)
	if old != 0 || nw != 0 {
		c.st[0].logWrite(nt.word, at, old, nw)
	}
	c.publishTable(t.word, nt, retireTable, nil, 0)
	return nt, nil
}
