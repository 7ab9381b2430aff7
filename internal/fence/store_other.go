//go:build !amd64 || race

package fence

import "sync/atomic"

// StoreRelease stores v at *p with (at least) release ordering: a process that loads v with an
// atomic load also sees every load and store this thread made before it. p must be 8-byte
// aligned. On arm64 it is STLR, which is what sync/atomic's store compiles to there; elsewhere,
// and under the race detector, a sequentially consistent store.
func StoreRelease(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
