package ring

import (
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/pids"
)

// self is this process's pid as stored in shared words: owner of a lock, writer or reader of a
// record. Linux pids fit in 22 bits (PID_MAX_LIMIT), so a pid fits the 24 bits a record's state
// word has for it.
var self = os.Getpid()

// alive reports whether process pid exists and has not exited (a zombie counts as dead: it will
// never touch shared memory again); see pids.Alive for the limits.
func alive(pid int) bool { return pid == self || pids.Alive(pid) }

const lockWaiters = 1 << 31

// lockTick is how long a waiter for a robust lock sleeps before it checks that the owner still
// lives.
const lockTick = 20 * time.Millisecond

// robustLock takes the robust lock at word: 0 when free, else the owner's pid, with lockWaiters
// set when someone sleeps on it. A waiter that finds the owner dead takes the lock over, and
// robustLock reports that (recovered): whatever the owner was doing under the lock was cut short
// at any point, and the caller's protocol must tolerate it. It never fails: a corrupt word that
// names no live process is simply taken over.
func robustLock(word *uint32) (recovered bool) {
	if atomic.CompareAndSwapUint32(word, 0, uint32(self)) {
		return false
	}
	return robustLockSlow(word)
}

func robustLockSlow(word *uint32) bool {
	for i := 0; i < 200; i++ {
		if i%8 == 7 {
			runtime.Gosched()
		}
		if atomic.LoadUint32(word) == 0 && atomic.CompareAndSwapUint32(word, 0, uint32(self)|lockWaiters) {
			return false
		}
	}
	for {
		w := atomic.LoadUint32(word)
		if w == 0 {
			// Keep the waiters bit: others may sleep behind us.
			if atomic.CompareAndSwapUint32(word, 0, uint32(self)|lockWaiters) {
				return false
			}
			continue
		}
		if w&lockWaiters == 0 && !atomic.CompareAndSwapUint32(word, w, w|lockWaiters) {
			continue
		}
		if int(w&^lockWaiters) == self {
			// This process's goroutines take turns on a local mutex before the shared lock, so
			// the lock naming this process is left over from a corrupt or reused word: take it.
			if atomic.CompareAndSwapUint32(word, w, uint32(self)|lockWaiters) {
				return true
			}
			continue
		}
		err := futex.Wait(word, w|lockWaiters, lockTick)
		if err == futex.ErrTimeout {
			if owner := int(w &^ lockWaiters); !alive(owner) {
				if atomic.CompareAndSwapUint32(word, w|lockWaiters, uint32(self)|lockWaiters) {
					return true
				}
			}
		}
	}
}

// robustUnlock releases the lock at word and wakes a sleeper if there is one.
func robustUnlock(word *uint32) {
	if atomic.SwapUint32(word, 0)&lockWaiters != 0 {
		futex.Wake(word, 1)
	}
}
