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
