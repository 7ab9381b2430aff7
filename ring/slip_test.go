package ring

import (
	"bytes"
	"testing"
)

// TestSlipAdapts drives the single consumer's slip through its adaptation: the wait after
// catching up doubles (to slipMax) while few messages come between catch-ups, halves (to slipMin)
// while many do, stays put in between, and is not taken at all after a single message.
func TestSlipAdapts(t *testing.T) {
	q, err := NewQueue(&Options{Size: 1 << 16, SingleProducer: true, SingleConsumer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	sent := 0
	// round puts n messages, takes them with getFast and then finds the queue empty once.
	round := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := q.Put([]byte{byte(sent + i)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			got, ok := q.getFast(nil)
			if !ok || !bytes.Equal(got, []byte{byte(sent + i)}) {
				t.Fatalf("message %d: got %v, %v", sent+i, got, ok)
			}
		}
		sent += n
		if got, ok := q.getFast(nil); ok {
			t.Fatalf("empty queue gave %v", got)
		}
	}
	if q.slip != slipMin {
		t.Fatalf("new queue: slip %d, want %d", q.slip, slipMin)
	}
	want := slipMin
	for i := 0; i < 8; i++ {
		round(3)
		want = min(2*want, slipMax)
		if q.slip != want {
			t.Fatalf("after %d rounds of 3: slip %d, want %d", i+1, q.slip, want)
		}
	}
	round(1) // no streak: no slip, no change
	round((slipFew + slipMany) / 2)
	if q.slip != slipMax {
		t.Fatalf("after a middling round: slip %d, want %d", q.slip, slipMax)
	}
	for i := 0; i < 8; i++ {
		round(slipMany + 1)
		want = max(want/2, slipMin)
		if q.slip != want {
			t.Fatalf("after %d rounds of %d: slip %d, want %d", i+1, slipMany+1, q.slip, want)
		}
	}
}
