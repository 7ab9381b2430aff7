//go:build race

package robust

import "sync/atomic"

// The race detector does not see synchronisation through memory mapped from a file (it keeps no
// shadow state for it), so between goroutines of one process it would report the data a mutex
// protects as racy. Under -race, every release also does an atomic add on a Go word of the
// object's Local, and every acquisition an atomic load of it: the detector sees those as a
// release and an acquire, which gives it the happens-before edge the shared word provides.

// RaceRelease marks a release for the race detector (a no-op without -race).
func (l *Local) RaceRelease() { atomic.AddUint32(&l.race, 1) }

// RaceAcquire marks an acquisition for the race detector (a no-op without -race).
func (l *Local) RaceAcquire() { atomic.LoadUint32(&l.race) }
