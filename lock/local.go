package lock

import (
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/robust"
)

// local is this process's private companion of one shared word: internal/robust's Local (the Gate
// through which its goroutines sleep on the word, the turnstile of mutex-like words, the adaptive
// spin), and what Condition adds.
type local struct {
	robust.Local
	probed atomic.Int64 // Condition: when this process last probed for dead waiters (unix ns)
}

// locals maps a shared word's address to its local state, so that every object of this process
// opened on the same shared block shares it. Entries are never removed: a word's memory stays
// mapped for the life of the process (the default heap) or of its segment, and a stale entry for
// a freed and reused block is still correct for the word at that address.
var locals robust.Registry[*uint32, local]

func localFor(w *uint32) *local { return locals.Get(w, nil) }

// backoff is a waiter's current park slice (robust.Backoff: 1 ms doubling to 100 ms).
type backoff = robust.Backoff

func raceAcquire(l *local) { l.RaceAcquire() }

func raceRelease(l *local) { l.RaceRelease() }
