//go:build amd64 && !race

package fence

// StoreRelease stores v at *p with release ordering: a process that loads v with an atomic load
// also sees every load and store this thread made before it. It is not ordered before this
// thread's later loads: another CPU may see it up to DrainBound later. p must be 8-byte aligned.
//
// On amd64 it is an ordinary store, and inlines. Two facts make that a release store: the
// processor (TSO) never makes a store visible before an earlier store, nor lets it pass an
// earlier load; and gc compiles a goroutine's memory operations in program order (every load and
// store of a function is threaded on one chain of memory states in its SSA form, which
// scheduling keeps; no pass moves a store across another memory operation). Under the race
// detector it is an atomic store instead (store_other.go), so that it is not reported as a race;
// the detector cannot see the other process either way.
func StoreRelease(p *uint64, v uint64) { *p = v }
