package manager

import (
	"time"

	"github.com/shmkit/shmkit/shm"
)

// LockOwner returns the pid holding one of the structure's stripe locks, 0 when all are free
// (tests only).
func (d *Dict[K, V]) LockOwner() int { return d.c.owner() }

func (c *core) owner() int {
	for i := range c.st {
		if o := c.st[i].lk.Owner(); o != 0 {
			return o
		}
	}
	return 0
}

// Stripes returns how many writer stripes the Dict has, and the stripe key k belongs to.
func (d *Dict[K, V]) StripeOf(k K) (stripe, stripes int) {
	kb, err := d.key(&k)
	if err != nil {
		panic(err)
	}
	x := d.c.stripeOf(hashKey(kb))
	for i := range d.c.st {
		if &d.c.st[i] == x {
			return i, len(d.c.st)
		}
	}
	panic("no stripe")
}

// Repairs returns how many repairs this process made after dead writers, and of those how many
// found a table operation (grow, clear) and how many an entry write in flight.
func Repairs() (all, table, entry int64) {
	return repairs.all.Load(), repairs.table.Load(), repairs.entry.Load()
}

// Hook points, for the kill tests.
const (
	AtEntryLogged    = atEntryLogged
	AtEntryPublished = atEntryPublished
	AtGrowFilling    = atGrowFilling
	AtGrowPublished  = atGrowPublished
	AtClearPublished = atClearPublished
	AtLockingAll     = atLockingAll
	NumHookPoints    = numHookPoints
)

// SetTestHook makes every write of this process call fn at the hook points (nil: none). Set it
// before any write starts, in a child process.
func SetTestHook(fn func(point int)) { testHook = fn }

// LockOwner returns the pid holding the List's lock, 0 when it is free (tests only).
func (l *List[T]) LockOwner() int { return l.c.owner() }

// SetWatchSpin sets the watchers' spin policy of this process (benchmarks compare policies in one
// run): at most max per change; adaptive or always max. It returns a function restoring the old.
func SetWatchSpin(max time.Duration, adapt bool) (restore func()) {
	om, oa := maxSpin.Load(), adaptive.Load()
	maxSpin.Store(int64(max))
	adaptive.Store(adapt)
	return func() { maxSpin.Store(om); adaptive.Store(oa) }
}

// NewDictStripes is NewDict with n writer stripes instead of 16 (benchmarks compare them).
func NewDictStripes[K, V any](n int) (*Dict[K, V], error) {
	h, err := shm.Default()
	if err != nil {
		return nil, err
	}
	c, err := newStriped(h, dictKind, formDict, typeName[K](), typeName[V](), n)
	if err != nil {
		return nil, err
	}
	return newHandle[K, V](c), nil
}

// SetMaxLoad sets the highest load of the Dict tables this process grows, in quarters (3 by
// default); it returns a function restoring the old one.
func SetMaxLoad(quarters int) (restore func()) {
	old := maxLoadQuarters.Swap(int32(quarters))
	return func() { maxLoadQuarters.Store(old) }
}
