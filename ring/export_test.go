package ring

// Recoveries counts, in this process, the records of dead producers skipped and the messages of
// dead consumers taken over.
func Recoveries() (abandonedRecords, reapedMessages uint64) { return abandoned.Load(), reaped.Load() }
