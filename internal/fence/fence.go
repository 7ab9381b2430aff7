// Package fence provides the two halves of an asymmetric memory fence between processes: a
// cheap release store for the hot side of a protocol, and a heavy fence, run by the side about to
// sleep, that makes every such store of every registered process visible.
//
// The problem it solves is the store-then-load check of a sleep/wake handshake (Dekker's
// pattern). A waker publishes progress and then looks at a "someone sleeps" flag; a sleeper
// raises the flag and then looks at the progress once more before it sleeps. Each side's load
// must not pass its own earlier store, or both sides miss each other and the sleeper sleeps on
// news that has already arrived. A full fence on each side costs tens of cycles on every message
// (on amd64 a locked instruction, which also waits for every pending store to reach the cache).
// Here the hot side uses StoreRelease (an ordinary store) and pays nothing, and the rare side, the
// one about to sleep anyway, calls Heavy: membarrier(2) with MEMBARRIER_CMD_GLOBAL_EXPEDITED,
// which interrupts every CPU running a thread of a registered process and makes it execute a full
// barrier. After Heavy returns, each of those threads has either made its earlier stores visible
// or will see the sleeper's flag in its later loads.
//
// A process takes part by calling Register once (ring does when it opens a queue); Available
// reports whether it succeeded. When it did not (a kernel before 4.16, or a seccomp filter that
// refuses membarrier), callers must use a sequentially consistent store on the hot side instead,
// which is what StoreOrdered does for them.
package fence

import (
	"sync"
	"sync/atomic"
)

var (
	once      sync.Once
	available atomic.Bool
)

// Register makes this process a target of other processes' Heavy fences (and enables Heavy in
// it). It is idempotent and safe for concurrent use; it reports whether the fence is available.
func Register() bool {
	once.Do(func() { available.Store(register()) })
	return available.Load()
}

// Available reports whether Register succeeded in this process. Before Register it is false.
func Available() bool { return available.Load() }

// Heavy executes a full memory barrier on every CPU that runs a thread of a registered process,
// this one included, and returns when they all have. It costs microseconds (an inter-processor
// interrupt per such CPU): call it only on the way to sleeping. Without Available it does nothing
// and returns false.
func Heavy() bool {
	if !Available() {
		return false
	}
	return heavy()
}
