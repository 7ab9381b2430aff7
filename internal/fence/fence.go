// Package fence provides the cheap half of a store-then-load handshake between processes: a
// release store for the hot side of a shared-memory protocol, and the bound (DrainBound) after
// which such a store is visible everywhere, which the other side of a sleep/wake handshake uses
// in place of a fence.
//
// The problem is Dekker's pattern in a wake-up. A waker publishes progress and then looks at a
// "someone sleeps" flag; a sleeper raises the flag and then looks at the progress once more
// before it sleeps. Each side's load must not pass its own earlier store, or both sides miss each
// other and the sleeper sleeps on news that has already arrived. A full fence on the waker's side
// costs tens of cycles on every message (on amd64 a locked instruction, which also waits for
// every pending store to reach the cache), so the waker uses StoreRelease and no fence. The
// sleeper raises its flag with a sequentially consistent store (so its own load cannot pass it)
// and looks; if it finds nothing, the waker may still have missed the flag while its store sat in
// its store buffer. That store reaches the cache within DrainBound, so the sleeper's first sleep
// lasts at most DrainBound, after which it looks again; only then does it sleep long. A missed
// wake-up thus costs at most DrainBound of latency, and the sleeper one more timed wait; nobody
// else pays anything. (An asymmetric fence, membarrier(2) with MEMBARRIER_CMD_GLOBAL_EXPEDITED,
// gives the same guarantee without the timing bound, but it interrupts every CPU running a
// thread of a registered process at each sleep: measured on this project's VM at 13 µs for the
// sleeper and 7 µs lost by each busy CPU, per sleep. docs/ring.md has the figures.)
package fence

import "time"

// DrainBound is how long after StoreRelease returns the store is visible to every other CPU. A
// store waits in its CPU's store buffer only until its cache line arrives, which takes well under
// a microsecond even across sockets, and an interrupt or VM exit drains the buffer at once:
// 100 µs is a margin of two orders of magnitude. It is an engineering bound, not an architectural
// guarantee, so use it only where being wrong costs latency, not correctness (ring's sleepers
// also wake at least every 50 ms). TestReleaseStoreDrains checks it.
const DrainBound = 100 * time.Microsecond
