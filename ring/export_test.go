package ring

import "sync/atomic"

// Recoveries counts, in this process, the records of dead producers skipped and the messages of
// dead consumers taken over.
func Recoveries() (abandonedRecords, reapedMessages uint64) { return abandoned.Load(), reaped.Load() }

// ProducerWaits reports whether a producer of q has raised the flag that says it may sleep
// waiting for a consumer (for room in the ring, or for heap space for a spilled message).
// The flag stays raised until a consumer clears it; ClearProducerWaits lowers it while no
// producer waits.
func ProducerWaits(q *Queue) bool { return atomic.LoadUint32(q.get.waiters) != 0 }

func ClearProducerWaits(q *Queue) { atomic.StoreUint32(q.get.waiters, 0) }

// SetTestHook makes this process call f at each named instant of the counted steps (see hook in
// count.go); nil removes it. Set it before the queue is used from another goroutine.
func SetTestHook(f func(site string)) { testHook = f }
