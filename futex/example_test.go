//go:build linux

package futex_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/shm"
)

// Wait for a word in shared memory to change, and wake the waiter. The waiter could as well be
// another process mapping the same segment.
func Example() {
	seg, err := shm.Create(8192, nil)
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	word := shm.Word32(seg.Bytes(), shm.HeaderSize) // any aligned word of a shared mapping

	done := make(chan uint32)
	go func() {
		for atomic.LoadUint32(word) == 0 { // loop: wake-ups may be spurious
			futex.Wait(word, 0, 5*time.Second)
		}
		done <- atomic.LoadUint32(word)
	}()
	atomic.StoreUint32(word, 7)
	futex.Wake(word, 1)
	fmt.Println("woken with", <-done)

	err = futex.Wait(word, 7, 10*time.Millisecond)
	fmt.Println("nobody wakes us:", err)
	// Output:
	// woken with 7
	// nobody wakes us: shmkit: timeout
}
