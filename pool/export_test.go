package pool

import "time"

// SetSpins sets how long a worker (at most) and an Apply caller watch before they sleep, for
// pools made afterwards, and returns a function that restores the old values: the benchmarks
// compare settings in one run.
func SetSpins(worker, caller time.Duration) (restore func()) {
	old := defaultSpins
	defaultSpins = spins{worker, caller}
	return func() { defaultSpins = old }
}

// SetBulkBytes sets the block size of the bulk chunks of pools made afterwards, and returns a
// function that restores the old one.
func SetBulkBytes(n int) (restore func()) {
	old := bulkBytes
	bulkBytes = n
	return func() { bulkBytes = old }
}

// SetNoSpare makes the pools made afterwards start no warm spare (when on), and returns a function
// that restores the old setting.
func SetNoSpare(on bool) (restore func()) {
	old := noSpare
	noSpare = on
	return func() { noSpare = old }
}

// Broke counts the times p found a worker's result ring broken (a message against the protocol,
// or a ring error) and killed the worker for it.
func Broke(p *Pool) int64 { return p.broke.Load() }
