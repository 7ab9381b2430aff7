//go:build amd64 || arm64

package fence

// StoreRelease stores v at *p with release ordering: a process that loads v with an atomic load
// also sees every store this thread made before. It is not ordered before this thread's later
// loads (use Heavy on the other side for that), and it is invisible to the race detector: use it
// only on shared memory whose protocol is tested across processes. p must be 8-byte aligned.
//
//go:noescape
func StoreRelease(p *uint64, v uint64)

// PrefetchW asks the CPU to bring the cache line holding *p into this core's cache for writing
// (PREFETCHW, PRFM PSTL1KEEP), ahead of stores to it: when another core holds the line, the
// transfer then overlaps the work until the stores come. It is a hint: it never faults and has no
// effect on memory contents or ordering.
//
//go:noescape
func PrefetchW(p *byte)
