//go:build race

package lock

import "sync/atomic"

// The race detector does not see synchronisation through memory mapped from a file (it keeps no
// shadow state for it), so between goroutines of one process it would report the data a Lock
// protects as racy. Under -race, every release also does an atomic add on a Go word of the
// object's local state, and every acquisition an atomic load of it: the detector sees those as
// a release and an acquire, which gives it the happens-before edge the shared word provides.
func raceRelease(l *local) { atomic.AddUint32(&l.race, 1) }

func raceAcquire(l *local) { atomic.LoadUint32(&l.race) }
