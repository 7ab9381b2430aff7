package ring

import (
	"errors"
	"testing"
)

// The count words wrap at 2^37 and positions at 2^31 bytes in their tags: differences and steps
// stay exact across both wraps, and a step finished by a dead process is not counted twice.
func TestCountWordWraps(t *testing.T) {
	const step = 48 // bytes per record
	var put, got uint64
	pos := uint64(1)<<31 - 5*step       // tags wrap a few records in
	put = (1<<countBits - 3) << tagBits // and so does the count
	put |= tagOf(pos)
	got = put
	p := pos
	for i := 1; i <= 10; i++ {
		if err := countStep(&put, p, p+step, 1); err != nil {
			t.Fatal(err)
		}
		if d := countDiff(put, got); d != uint64(i) {
			t.Fatalf("after %d puts: Len %d", i, d)
		}
		p += step
	}
	g := pos
	for i := 1; i <= 10; i++ {
		if err := countStep(&got, g, g+step, 1); err != nil {
			t.Fatal(err)
		}
		// The step again, as the next consumer finishes it after a kill: no change.
		if err := countStep(&got, g, g+step, 1); err != nil {
			t.Fatal(err)
		}
		if d := countDiff(put, got); d != uint64(10-i) {
			t.Fatalf("after %d gets: Len %d", i, d)
		}
		g += step
	}
	// Counted by the consumers and not yet by the producers (a producer died between publishing
	// and counting): 0, never negative.
	if err := countStep(&got, g, g+step, 1); err != nil {
		t.Fatal(err)
	}
	if d := countDiff(put, got); d != 0 {
		t.Fatalf("consumers one ahead: Len %d", d)
	}
	// A tag that names neither end of the step is corrupt.
	if err := countStep(&got, g+5*step, g+6*step, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("step from a position the count does not name: %v", err)
	}
	if err := checkTag(&put, p+step, "put"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("checkTag at another position: %v", err)
	}
	if err := checkTag(&put, p, "put"); err != nil {
		t.Fatal(err)
	}
}
