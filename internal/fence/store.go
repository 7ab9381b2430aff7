package fence

import "sync/atomic"

// StoreOrdered stores v at *p as a release store when this process takes part in the heavy
// fence (Available), else as a sequentially consistent store. Either way the stores that precede
// it in program order are visible to a process that loads v with an atomic load; only the
// sequentially consistent form also orders it before this thread's later loads, which Heavy
// provides instead when available.
func StoreOrdered(p *uint64, v uint64) {
	if available.Load() {
		StoreRelease(p, v)
	} else {
		atomic.StoreUint64(p, v)
	}
}
