//go:build amd64 && !race

package fence

// StoreRelease stores v at *p with release ordering: a process that loads v with an atomic load
// also sees every load and store this thread made before it. It is not ordered before this
// thread's later loads: another CPU may see it up to DrainBound later. p must be 8-byte aligned.
//
// On amd64 it is one MOVQ in assembly (store_amd64.s), as the runtime's own internal StoreRel
// is. The processor (TSO) never makes a store visible before an earlier store, nor lets it pass
// an earlier load, so a plain store is a release store in hardware; the assembly makes it one in
// the language too: the compiler cannot see into an assembly function, so it cannot move this
// goroutine's earlier loads and stores after the call or merge the store with anything. (A plain
// Go store would also work with today's gc, which keeps a function's memory operations in
// program order, but nothing in the Go memory model promises that.) The price is a call that
// does not inline: docs/ring.md has the measured cost. Under the race detector it is an atomic
// store instead (store_other.go), so that it is not reported as a race; the detector cannot see
// the other process either way.
//
//go:noescape
func StoreRelease(p *uint64, v uint64)
