package lock

import (
	"sync"
	"testing"
)

// Goroutines of one process claiming their entry of a fresh holders table at the same moment
// end up with one entry between them, not one each.
func TestHoldersOneEntryPerProcess(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	for round := 0; round < rounds; round++ {
		var words [holderSlots]uint64
		var h holders
		h.init(func(i int) *uint64 { return &words[i] }, nil)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				h.add(1, func(uint32) {})
			})
		}
		close(start)
		wg.Wait()
		mine, units := 0, uint64(0)
		for i := range words {
			if entryPid(words[i]) == self {
				mine++
				units += uint64(uint32(words[i]))
			}
		}
		if mine != 1 || units != 4 {
			t.Fatalf("round %d: this process has %d entries holding %d units, want 1 entry of 4", round, mine, units)
		}
	}
}
