//go:build !race

package robust

// RaceRelease marks a release for the race detector (a no-op without -race).
func (*Local) RaceRelease() {}

// RaceAcquire marks an acquisition for the race detector (a no-op without -race).
func (*Local) RaceAcquire() {}
