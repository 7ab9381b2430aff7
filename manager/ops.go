package manager

import (
	"context"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// put publishes a new entry of key and val, replacing the key's entry if it has one. The caller
// holds the lock (lockW). It returns whether the key was new.
func (c *core) put(key, val []byte, h uint64) (added bool, err error) {
	t, err := c.current(true)
	if err != nil {
		return false, err
	}
	slot, old, found, free, err := c.probe(t, key, h)
	if err != nil {
		return false, err
	}
	if !found && (!free || atomic.LoadUint64(c.wUsed)+1 > uint64(len(t.slots))/4*3) {
		if t, err = c.resize(t); err != nil {
			return false, err
		}
		if slot, old, found, free, err = c.probe(t, key, h); err != nil {
			return false, err
		}
		if !free {
			return false, corrupt("no free slot in a fresh table of %d", len(t.slots))
		}
	}
	nw, err := c.newEntry(h, key, val)
	if err != nil {
		return false, err
	}
	c.logWrite(t.word, slot, old, nw)
	hook(atEntryLogged)
	prev := atomic.LoadUint64(&t.slots[slot])
	// The publication: a reader that loads the slot from here on reads the new entry whole.
	atomic.StoreUint64(&t.slots[slot], nw)
	hook(atEntryPublished)
	if !found {
		atomic.AddUint64(c.wCount, 1)
		if prev == 0 {
			atomic.AddUint64(c.wUsed, 1)
		}
	}
	c.freeEntry(old)
	c.clearLog()
	return !found, nil
}

// remove removes key's entry, reporting whether it had one. The caller holds the lock.
func (c *core) remove(key []byte, h uint64) (bool, error) {
	t, err := c.current(true)
	if err != nil {
		return false, err
	}
	slot, old, found, _, err := c.probe(t, key, h)
	if err != nil || !found {
		return false, err
	}
	c.logWrite(t.word, slot, old, 0)
	hook(atEntryLogged)
	atomic.StoreUint64(&t.slots[slot], tomb)
	hook(atEntryPublished)
	atomic.AddUint64(c.wCount, ^uint64(0))
	c.freeEntry(old)
	c.clearLog()
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

// clearAll replaces the table by an empty one and frees every entry. The caller holds the lock.
func (c *core) clearAll() error {
	t, err := c.current(true)
	if err != nil {
		return err
	}
	nt, err := c.allocTable(minCap)
	if err != nil {
		return err
	}
	atomic.StoreUint64(c.wPending, nt.word)
	c.publishTable(t.word, nt, retireAll, 0, 0)
	return nil
}

// scan calls fn with every entry of a consistent snapshot: the entries of the table while no
// write was in progress from the first read to the last (seq unchanged and even). When writers
// keep it from getting one it takes the lock (bounded by ctx when not nil). fn gets copies.
func (c *core) scan(ctx context.Context, dict bool, fn func(key, val []byte) error) error {
	var keys, vals [][]byte
	for try := 0; try < maxOptimistic; try++ {
		s := atomic.LoadUint32(c.wSeq)
		if s&1 != 0 {
			runtime.Gosched()
			continue
		}
		keys, vals = keys[:0], vals[:0]
		ok, err := c.collect(dict, &keys, &vals)
		if atomic.LoadUint32(c.wSeq) != s {
			continue
		}
		if err != nil {
			return err
		}
		if ok {
			return deliver(keys, vals, fn)
		}
	}
	if err := c.lockR(ctx, dict); err != nil {
		return err
	}
	keys, vals = keys[:0], vals[:0]
	_, err := c.collect(dict, &keys, &vals)
	if uerr := c.unlockR(); err == nil {
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
// t's slots, and publishes it (the entries are shared, not copied). The caller holds the lock.
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
		c.logWrite(nt.word, at, old, nw)
	}
	c.publishTable(t.word, nt, retireTable, 0, 0)
	return nt, nil
}
