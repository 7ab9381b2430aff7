package manager

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Watching: every write ends, when the watchers word says some goroutine may be watching, by
// incrementing the header's gen word and a futex wake of gen for every process. A watching
// goroutine registers in watchers, reads gen, looks at what it watches, spins a while (see
// spinner), and parks on gen (through a park.Gate: the watchers of one handle share one parked
// thread) until gen moves.
// No polling of the Dict: an idle one costs a watcher one wake-up every 50 ms (park.Gate's
// cancellation slice, so that a Close racing the watcher's sleep is never lost). A watcher that dies leaves watchers
// counted: writers then make a futex wake syscall that finds nobody, which is harmless.

// A Change is what Watch delivers: the key's value after a write, or Deleted when the key is gone.
// Err, when not nil, is the last Change on the channel: the watch failed (corrupt state).
type Change[V any] struct {
	Value   V
	Deleted bool
	Err     error
}

// watch runs step each time seq moves, until ctx ends or step returns false; the caller has
// registered in watchers and unregisters when it returns.
//
// Between changes the watcher first spins on seq for a while (see spinner), then parks on the
// futex. A parked watcher costs next to nothing (one wake-up per 50 ms slice), but waking it is
// a kernel wake-up of a sleeping thread, which on a virtual machine takes tens of microseconds; a
// spinning one sees the change within a microsecond. How long it spins adapts to how often
// changes arrive.
func (c *core) watch(ctx context.Context, step func() bool) {
	defer atomic.AddUint32(c.wWatch, ^uint32(0))
	var sp spinner
	for {
		s := atomic.LoadUint32(c.wGen)
		if !step() {
			return
		}
		if spinFor(c.wGen, s, sp.budget()) {
			sp.changed()
			continue
		}
		for atomic.LoadUint32(c.wGen) == s {
			if c.gate.Wait(ctx, c.wGen, s, Forever) != nil && ctx.Err() != nil {
				return
			}
		}
		sp.changed()
	}
}

// A spinner decides how long a watcher spins before it parks: long enough to catch the next
// change when changes have been arriving often (at most maxSpin apart), and only minSpin when
// they have not, so that an idle watcher costs next to no CPU and a busy one answers without a
// kernel wake-up. It tracks a moving average of the gap between changes.
type spinner struct {
	last time.Time     // when the previous change was seen
	avg  time.Duration // moving average of the gaps between changes (0: none seen yet)
}

// Spin policy (variables so that the benchmarks can compare policies in one run).
const (
	// defaultMaxSpin bounds a spin: an active watcher spends at most this much CPU per change.
	defaultMaxSpin = 200 * time.Microsecond
	// minSpin is the spin of a watcher whose changes come rarely: it catches a burst's next write.
	minSpin = 2 * time.Microsecond
)

var (
	maxSpin  atomic.Int64 // nanoseconds; defaultMaxSpin unless a benchmark changed it
	adaptive atomic.Bool  // false: every spin is maxSpin (the fixed policy the adaptive one replaced)
)

func init() {
	maxSpin.Store(int64(defaultMaxSpin))
	adaptive.Store(true)
}

func (s *spinner) changed() {
	now := time.Now()
	if !s.last.IsZero() {
		gap := now.Sub(s.last)
		if s.avg == 0 {
			s.avg = gap
		} else {
			s.avg += (gap - s.avg) / 4
		}
	}
	s.last = now
}

// budget returns how long to spin now: twice the average gap when that fits in maxSpin (the next
// change is likely within it), else minSpin.
func (s *spinner) budget() time.Duration {
	ms := time.Duration(maxSpin.Load())
	if !adaptive.Load() {
		return ms
	}
	if s.avg > 0 && 2*s.avg <= ms {
		return 2 * s.avg
	}
	return min(minSpin, ms)
}

// spinFor looks at *w for up to d before a watcher parks, and reports whether it moved from s.
// Each look yields the processor first (runtime.Gosched), so that the goroutine receiving the
// watcher's last Change runs before the watcher spins: that receiver is often the one about to
// write again (a request answered by a reply).
func spinFor(w *uint32, s uint32, d time.Duration) bool {
	if d <= 0 {
		return atomic.LoadUint32(w) != s
	}
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		runtime.Gosched()
		if atomic.LoadUint32(w) != s {
			return true
		}
		if i%16 == 15 && time.Now().After(deadline) {
			return false
		}
	}
}

// Watch returns a channel that receives a Change each time a write changes key k, in any process,
// until ctx ends or this handle is closed; then the channel is closed. Each Set of k is a change,
// even to an equal value. Changes are states, not a log: when k changes several times before the
// receiver takes the last Change, it receives the latest state only, and a key that comes back to
// the state the watcher last saw (absent, say, after a Set and a Delete) yields none. Changes
// made after Watch returns are all observed (Watch reads the key's state before it returns). The
// watcher is woken through a futex on the Dict's change counter, not by polling; a goroutine
// blocks in the receive. Close (and Free) of the handle ends the watch and returns after its
// goroutine has stopped.
func (d *Dict[K, V]) Watch(ctx context.Context, k K) (<-chan Change[V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	kb, err := d.key(&k)
	if err != nil {
		return nil, err
	}
	kb = append([]byte(nil), kb...) // a raw key aliases k
	h := hashKey(kb)
	var last uint64
	ch := make(chan Change[V])
	err = d.startWatch(ctx, func() (err error) {
		_, last, _, err = d.get(kb, h)
		return err
	}, func(ctx context.Context) {
		defer close(ch)
		d.c.watch(ctx, func() bool {
			v, w, ok, err := d.get(kb, h)
			if err == nil && w == last {
				return true
			}
			last = w
			select {
			case ch <- Change[V]{Value: v, Deleted: !ok && err == nil, Err: err}:
				return err == nil
			case <-ctx.Done():
				return false
			}
		})
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// WatchAll returns a channel that receives the Dict's version each time a write completes, in any
// process, until ctx ends or this handle is closed (then it is closed). The version counts the
// writes completed while some watch of the Dict existed (modulo 2^32; a write nobody watches
// does not pay for counting); versions skipped mean writes the receiver did not look at in
// between. Read the Dict (Items) to see what changed.
func (d *Dict[K, V]) WatchAll(ctx context.Context) (<-chan uint64, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return watchVersions(ctx, d.c, d.hw, "Dict")
}

// watchVersions is WatchAll for the structure c, whose handle's watches are hw.
func watchVersions(ctx context.Context, c *core, hw *handleWatches, what string) (<-chan uint64, error) {
	var last uint32
	ch := make(chan uint64)
	err := hw.start(ctx, c, what, func() error {
		last = atomic.LoadUint32(c.wGen)
		return nil
	}, func(ctx context.Context) {
		defer close(ch)
		c.watch(ctx, func() bool {
			s := atomic.LoadUint32(c.wGen)
			if s == last {
				return true
			}
			last = s
			select {
			case ch <- uint64(s):
				return true
			case <-ctx.Done():
				return false
			}
		})
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// A KeyChange is what WatchKeys and WatchPrefix deliver: a key whose value changed (Value is the
// new value) or that was deleted. Err, when not nil, is the last KeyChange on the channel: the
// watch failed (corrupt state).
type KeyChange[K, V any] struct {
	Key     K
	Value   V
	Deleted bool
	Err     error
}

// WatchKeys returns a channel that receives a KeyChange for each key for which match returns
// true when a write sets or deletes it, in any process, until ctx ends or this handle is closed
// (then the channel is closed). WatchKeys(ctx, func(K) bool { return true }) watches the whole
// Dict. As with Watch, changes are states, coalesced: a key set several times before the watcher
// looks is delivered once, with its latest value, and every change made after WatchKeys returns
// is observed. match runs in the watching goroutine, once per entry the watcher has not seen
// before (entries are immutable, so a key is decoded again only when it is written again).
//
// Cost: after each batch of writes the watcher walks the whole table (one atomic load per slot,
// and a map lookup per entry), so a WatchKeys on a Dict of n keys costs O(n) per change it is
// woken for, however few keys match; Watch of one key costs one lookup.
func (d *Dict[K, V]) WatchKeys(ctx context.Context, match func(K) bool) (<-chan KeyChange[K, V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	w := &keyWatch[K, V]{d: d, match: match, known: map[uint64]*seenEntry[K]{}}
	ch := make(chan KeyChange[K, V])
	err := d.startWatch(ctx, func() error {
		_, err := w.pass(nil)
		return err
	}, func(ctx context.Context) {
		defer close(ch)
		d.c.watch(ctx, func() bool {
			out, err := w.pass(nil)
			if err != nil {
				out = append(out, KeyChange[K, V]{Err: err})
			}
			for _, kc := range out {
				select {
				case ch <- kc:
				case <-ctx.Done():
					return false
				}
			}
			return err == nil
		})
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// WatchPrefix is WatchKeys for the keys of a Dict[string, V] that begin with prefix.
func WatchPrefix[V any](ctx context.Context, d *Dict[string, V], prefix string) (<-chan KeyChange[string, V], error) {
	return d.WatchKeys(ctx, func(k string) bool { return strings.HasPrefix(k, prefix) })
}

// A keyWatch remembers, for every entry word of the table, the key it holds and whether it
// matches. A word names one immutable entry for as long as it is live (a block freed and
// allocated again gets another word), so what was decoded once stays true.
type keyWatch[K, V any] struct {
	d     *Dict[K, V]
	match func(K) bool
	known map[uint64]*seenEntry[K] // by entry word
}

type seenEntry[K any] struct {
	key   K
	kb    string // the encoded key
	match bool
	mark  bool // seen in the current pass
}

// pass walks the table and returns the changes since the last pass: matching entries new since
// then (a set), and matching keys that no entry holds any more (a delete). It tries again while
// the table or a slot is replaced under it (a grow keeps the entry words, so little is decoded
// again), and after maxOptimistic tries walks holding every stripe, as Items does.
func (w *keyWatch[K, V]) pass(out []KeyChange[K, V]) ([]KeyChange[K, V], error) {
	c := w.d.c
	for try := 0; try < maxOptimistic; try++ {
		if out, ok, err := w.walk(out); ok || err != nil {
			return out, err
		}
		runtime.Gosched()
	}
	if err := c.lockAll(context.Background(), false); err != nil {
		return out, err
	}
	out, ok, err := w.walk(out)
	if uerr := c.unlockAll(false); err == nil {
		err = uerr
	}
	if !ok && err == nil {
		err = corrupt("the table changed under a reader holding every stripe")
	}
	return out, err
}

// walk is one pass; ok is false when something changed under it (nothing is then remembered).
func (w *keyWatch[K, V]) walk(out []KeyChange[K, V]) (_ []KeyChange[K, V], ok bool, err error) {
	c := w.d.c
	t, err := c.current(true)
	if err != nil {
		return out, false, err
	}
	var fresh []uint64 // words first seen in this pass
	var vals [][]byte
	now := map[string]bool{} // matching keys held now
	defer func() {
		if !ok {
			for _, wd := range fresh {
				delete(w.known, wd)
			}
			for _, se := range w.known {
				se.mark = false
			}
		}
	}()
	for i := range t.slots {
		s := &t.slots[i]
		wd := atomic.LoadUint64(s)
		if wd <= tomb {
			continue
		}
		if se, seen := w.known[wd]; seen {
			se.mark = true
			if se.match {
				now[se.kb] = true
			}
			continue
		}
		e, eok := c.entryAt(wd)
		if atomic.LoadUint64(s) != wd {
			return out, false, nil // replaced meanwhile: the lengths may be a reused block's
		}
		if !eok {
			return out, false, corrupt("slot %d holds %#x", i, wd)
		}
		kb, vb := string(e.key), append([]byte(nil), e.val...)
		if atomic.LoadUint64(s) != wd {
			return out, false, nil
		}
		se := &seenEntry[K]{kb: kb, mark: true}
		if err := w.d.decodeKey([]byte(kb), &se.key); err != nil {
			return out, false, fmt.Errorf("%w: key: %v", ErrCorrupt, err)
		}
		se.match = w.match(se.key)
		w.known[wd] = se
		fresh = append(fresh, wd)
		if se.match {
			now[kb] = true
		}
		vals = append(vals, vb)
	}
	if atomic.LoadUint64(c.wTable) != t.word {
		return out, false, nil
	}
	for i, wd := range fresh {
		se := w.known[wd]
		if !se.match {
			continue
		}
		kc := KeyChange[K, V]{Key: se.key}
		if err := w.d.decodeVal(vals[i], &kc.Value); err != nil {
			return out, false, fmt.Errorf("%w: value: %v", ErrCorrupt, err)
		}
		out = append(out, kc)
	}
	for wd, se := range w.known {
		if !se.mark {
			if se.match && !now[se.kb] {
				out = append(out, KeyChange[K, V]{Key: se.key, Deleted: true})
				now[se.kb] = true // once, though several gone entries held the key
			}
			delete(w.known, wd)
		}
		se.mark = false
	}
	return out, true, nil
}
