package pool

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/funcs"
	"github.com/shmkit/shmkit/shm"
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
	chunks, err := buildChunks(s, funcs.Name(reflect.ValueOf(double)), []int{1, 2, 3, 4}, 2, typedEncoder[int]())
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

// FuzzParseChunk: a task message, which another process could have written, is refused or taken
// apart without a panic, and every item it yields lies inside it.
func FuzzParseChunk(f *testing.F) {
	s := newListSink(2, typedDecoder[int]())
	c := newChunk(s, "pkg.fn", 0)
	enc := typedEncoder[int]()
	for i := range 2 {
		enc(c, &i)
	}
	f.Add(c.seal(7))
	f.Add([]byte{msgStop})
	f.Add([]byte{msgChunk, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0})
	f.Fuzz(func(t *testing.T, m []byte) {
		pc, err := parseChunk(m)
		if refused(t, err) {
			return
		}
		rest, total := pc.items, 0
		for range pc.count {
			var item []byte
			item, rest = nextItem(rest)
			total += 4 + len(item)
		}
		if len(rest) != 0 || total != len(pc.items) {
			t.Fatalf("items of %d bytes in %d, %d left", total, len(pc.items), len(rest))
		}
	})
}

// FuzzParseResult: a result message is refused or read without a panic.
func FuzzParseResult(f *testing.F) {
	f.Add([]byte{resOK, 1, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{resPanic, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'h', 'i', 's', 't'})
	f.Add([]byte{resPanic, 1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, m []byte) {
		if len(m) < resultHeader {
			return // onMessage refuses these before parsing
		}
		res, err := parseResult(m, 0, 1)
		if err == nil && len(res) != len(m)-resultHeader {
			t.Fatalf("result of %d bytes from a %d-byte message", len(res), len(m))
		}
	})
}

// FuzzDecodeArgs: an argument list (a Starmap item, an initializer's arguments) is refused or
// decoded without a panic.
func FuzzDecodeArgs(f *testing.F) {
	ft := reflect.TypeFor[func(int, string, []float64) error]()
	good, err := encodeArgs(ft, []any{3, "x", []float64{1.5}}, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{argShared, 4, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodeArgs(ft, b)
		if err == nil && len(in) != 3 {
			t.Fatalf("%d arguments decoded for 3 parameters", len(in))
		}
	})
}

type flagged struct {
	X  int
	OK bool
}

func flag(x int) (flagged, error)    { return flagged{x, true}, nil }
func shout(s string) (string, error) { return s + "!", nil }

var _, _ = Register(flag), Register(shout)

// TestBulkChosen: Map of raw types without a bool goes in bulk chunks, and nothing else does.
func TestBulkChosen(t *testing.T) {
	for _, c := range []struct {
		fn   any
		bulk bool
	}{{double, true}, {flag, false}, {shout, false}} {
		e, err := lookup(c.fn, true)
		if err != nil {
			t.Fatal(err)
		}
		if (e.bulk != nil) != c.bulk {
			t.Fatalf("%s: bulk %v, want %v", e.name, e.bulk != nil, c.bulk)
		}
	}
	if p := (&Pool{opts: Options{TaskTimeout: time.Second}}); p.bulkOK() {
		t.Fatal("a pool with a task time limit sends bulk chunks")
	}
	p, err := New(&Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	got, err := Map(p, flag, []int{1, 2})
	if err != nil || got[1] != (flagged{2, true}) {
		t.Fatalf("Map of a struct with a bool: %v, %v", got, err)
	}
}

// TestBulkDone: what the words of a dead worker say of a bulk chunk it held, however wrong.
func TestBulkDone(t *testing.T) {
	c := &chunk{first: 100, n: 10, bulk: true}
	for _, k := range []struct {
		running, done uint64
		errs          []int
		want          int
	}{
		{running: 90, done: 100, want: -1},                 // not started: nothing settled, not running
		{running: 100, done: 100, want: 0},                 // started: item 0 was running
		{running: 100, done: 104, want: 4},                 // items 0-3 complete, 4 running
		{running: 100, done: 110, want: 10},                // all complete, the end message not sent
		{running: 100, done: 104, errs: []int{4}, want: 5}, // killed after sending item 4's error
		{running: 100, done: 111, want: 0},                 // a done word past the chunk: not trusted
		{running: 100, done: 3, errs: []int{1}, want: 2},   // before it: not trusted
		{running: 7, done: 3, errs: []int{2}, want: 3},     // the running word lost, errors seen
	} {
		c.errs = k.errs
		if got := bulkDone(c, k.running, k.done); got != k.want {
			t.Errorf("running %d, done %d, errs %v: %d settled, want %d", k.running, k.done, k.errs, got, k.want)
		}
	}
}

// TestBulkProgress: what Progress counts of a bulk chunk a live worker holds, from its words. A
// chunk the worker has finished, and gone on from, counts whole before the pool reads its last
// message: the bar ipcdemo pool draws went back by a chunk when it did not.
func TestBulkProgress(t *testing.T) {
	c := &chunk{first: 100, n: 10, bulk: true}
	for _, k := range []struct {
		running, done uint64
		want          int
	}{
		{running: 90, done: 95, want: 0},    // an earlier chunk is running
		{running: 100, done: 100, want: 0},  // started, item 0 running
		{running: 100, done: 104, want: 4},  // items 0-3 complete
		{running: 100, done: 110, want: 10}, // all complete, the end message not read yet
		{running: 110, done: 110, want: 10}, // the next chunk started
		{running: 250, done: 255, want: 10}, // a later chunk (other workers' ids between)
		{running: 100, done: 111, want: 0},  // a done word past the chunk: not trusted
		{running: 100, done: 7, want: 0},    // before it
	} {
		if got := bulkProgress(c, k.running, k.done); got != k.want {
			t.Errorf("running %d, done %d: %d complete, want %d", k.running, k.done, got, k.want)
		}
	}
}

// FuzzParseBulk: a bulk chunk message is refused or taken apart without a panic.
func FuzzParseBulk(f *testing.F) {
	c := &chunk{name: "pkg.fn", n: 3, bulk: true}
	m, err := c.sealBulk(9, shm.Ref{Seg: 1, Off: 64, Kind: bulkKind, Gen: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m)
	f.Add([]byte{msgBulk, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, m []byte) {
		pc, err := parseBulk(m)
		if refused(t, err) {
			return
		}
		if len(pc.name) > len(m) {
			t.Fatalf("name of %d bytes from a %d-byte message", len(pc.name), len(m))
		}
	})
}

// refused reports whether a parser refused its input, which it must do with ErrCorrupt.
func refused(t *testing.T, err error) bool {
	if err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v does not match ErrCorrupt", err)
	}
	return err != nil
}

var _ = Register(myPid)

func myPid(int) (int, error) { return os.Getpid(), nil }

// readySpare waits for p's spare to be ready and returns its pid.
func readySpare(t *testing.T, p *Pool) int {
	t.Helper()
	pid := 0
	if !eventually(func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.spare != nil && p.spare.ready {
			pid = p.spare.pid
		}
		return pid != 0
	}) {
		t.Fatal("no spare became ready")
	}
	return pid
}

// TestWarmSpare: no spare until a worker ends; then each worker killed is replaced by the spare
// (the next task runs in the spare's process), a new spare is started, and every process is gone
// after Close and Join.
func TestWarmSpare(t *testing.T) {
	p, err := New(&Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := Apply(p, myPid, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	started := p.spare != nil || p.spareLine != 1
	p.mu.Unlock()
	if started {
		t.Fatal("a spare was started before any worker ended")
	}
	for kill := 1; kill <= 5; kill++ {
		spare := 0
		if kill > 1 {
			spare = readySpare(t, p) // the first replacement is cold: the first spare starts with it
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		next, err := Apply(p, myPid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if next == pid || (kill > 1 && next != spare) {
			t.Fatalf("kill %d: the task ran in %d; killed %d, spare %d", kill, next, pid, spare)
		}
		if g := p.Progress(); g.Workers != int64(1+kill) {
			t.Fatalf("kill %d: %d workers put to work, want %d", kill, g.Workers, 1+kill)
		}
		pid = next
	}
	readySpare(t, p)
	p.Close()
	if err := p.Join(); err != nil {
		t.Fatal(err)
	}
}
