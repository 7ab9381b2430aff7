//go:build !amd64 && !arm64

package fence

import "sync/atomic"

// StoreRelease stores v at *p with (at least) release ordering; on this architecture it is a
// sequentially consistent store.
func StoreRelease(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// PrefetchW is a hint that does nothing on this architecture.
func PrefetchW(p *byte) {}
