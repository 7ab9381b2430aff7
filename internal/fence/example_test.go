package fence_test

import (
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/fence"
)

// The two sides of a wake-up handshake: the producer publishes with a cheap store and then looks
// for sleepers; the consumer raises its flag, fences, and looks for news before it sleeps.
func Example() {
	fence.Register()
	var news, sleeping uint64

	// Producer.
	fence.StoreOrdered(&news, 1)
	wake := atomic.LoadUint64(&sleeping) != 0

	// Consumer, about to sleep.
	atomic.StoreUint64(&sleeping, 1)
	fence.Heavy()
	sleep := atomic.LoadUint64(&news) == 0

	fmt.Println(wake, sleep)
	// Output: false false
}
