package pool

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

var (
	_ = Register(double)
	_ = RegisterFunc(exitWhenTaking)
)

func double(x int) (int, error) { return 2 * x, nil }

// exitWhenTaking, an initializer, makes its worker exit with code 5 each time it takes a chunk,
// before it starts the chunk's first item.
func exitWhenTaking() { testHookTaken = func() { os.Exit(5) } }

// TestDeathBeforeStart: a worker that dies after taking a chunk and before starting it loses
// nothing: the chunk goes to the next worker. When every worker dies so (the chunk never starts),
// the first item fails after maxBounces+1 workers, then the next, and so on: never a cycle.
func TestDeathBeforeStart(t *testing.T) {
	p, err := New(&Options{Workers: 1, Initializer: exitWhenTaking})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	_, err = Map(p, double, []int{1, 2, 3}, ChunkSize(3))
	var ie *ItemsError
	if !errors.As(err, &ie) || len(ie.Errs) != 3 {
		t.Fatalf("err = %v, want all 3 items lost", err)
	}
	for i, e := range ie.Errs {
		var wd *WorkerDiedError
		if !errors.As(e, &wd) || wd.ExitCode != 5 || wd.Index != i {
			t.Fatalf("item %d: %v, want a worker's exit 5", i, e)
		}
	}
	want := int64(1 + 3*(maxBounces+1))
	if !eventually(func() bool { return p.Progress().Workers == want }) {
		t.Fatalf("%d workers started, want %d", p.Progress().Workers, want)
	}
}

// TestDeathBeforeStartOnce: with only some deaths in the window, no item is lost.
func TestDeathBeforeStartOnce(t *testing.T) {
	p, err := New(&Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	// Send a chunk by hand to a worker that then dies in the window: the pool's bookkeeping
	// sees the chunk given and not started.
	s := newListSink(4, typedDecoder[int]())
	chunks, err := buildChunks(s, funcName(reflect.ValueOf(double)), []int{1, 2, 3, 4}, 2, typedEncoder[int]())
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	w := p.workers[0]
	p.mu.Unlock()
	w.p.Kill() // dead before it takes anything: what it is given goes elsewhere
	if err := p.submit(chunks, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.ar.Get(30 * time.Second)
	if err != nil || !slices.Equal(got, []int{2, 4, 6, 8}) {
		t.Fatalf("%v, %v", got, err)
	}
}

func eventually(cond func() bool) bool {
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
