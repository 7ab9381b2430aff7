package fence_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/fence"
)

// The two sides of a wake-up handshake: the waker publishes with a cheap store and then looks for
// sleepers; the sleeper raises its flag, looks for news, and if there is none sleeps first for at
// most DrainBound and looks again, before it sleeps long.
func Example() {
	var news, sleeping uint64

	// Waker.
	fence.StoreRelease(&news, 1)
	wake := atomic.LoadUint64(&sleeping) != 0

	// Sleeper.
	atomic.StoreUint64(&sleeping, 1)
	found := atomic.LoadUint64(&news) != 0
	if !found {
		time.Sleep(fence.DrainBound) // a futex wait with this timeout, in a real sleeper
		found = atomic.LoadUint64(&news) != 0
	}

	fmt.Println(wake, found)
	// Output: false true
}
