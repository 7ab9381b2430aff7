package manager

import "time"

// LockOwner returns the pid holding the structure's lock, 0 when it is free (tests only).
func (d *Dict[K, V]) LockOwner() int { return d.c.lk.Owner() }

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
	NumHookPoints    = numHookPoints
)

// SetTestHook makes every write of this process call fn at the hook points (nil: none). Set it
// before any write starts, in a child process.
func SetTestHook(fn func(point int)) { testHook = fn }

// LockOwner returns the pid holding the List's lock, 0 when it is free (tests only).
func (l *List[T]) LockOwner() int { return l.c.lk.Owner() }

// SetWatchSpin sets the watchers' spin policy of this process (benchmarks compare policies in one
// run): at most max per change; adaptive or always max. It returns a function restoring the old.
func SetWatchSpin(max time.Duration, adapt bool) (restore func()) {
	om, oa := maxSpin.Load(), adaptive.Load()
	maxSpin.Store(int64(max))
	adaptive.Store(adapt)
	return func() { maxSpin.Store(om); adaptive.Store(oa) }
}
