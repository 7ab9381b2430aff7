package pool

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// The wire protocol between the pool (in the parent) and a worker. Each worker has a task queue
// of its own (the parent is its single producer, the worker its single consumer) and a result
// queue of its own (the reverse), so that the parent knows at every moment which tasks it gave to
// which worker.
//
// Task messages, parent to worker:
//
//	chunk: 1, first id u64, count u32, name length u16, function name, then count items,
//	       each an argument length u32 and the argument's bytes
//	stop:  2 (finish what came before, then exit 0)
//	bulk:  3, as chunk but naming a block of raw items (see bulk.go)
//
// Result messages, worker to parent, one per item, in the order of the items:
//
//	ready: 1, pid u64 (the initializer has run)
//	ok:    2, item id u64, the encoded result
//	error: 3, item id u64, the error's text
//	panic: 4, item id u64, message length u32, message, stack
//	limit: 5, item id u64, the error's text (the task failed past its soft time limit)
//	bulk done: 6, the id after a bulk chunk's last item
//
// Item ids are given by the parent, one per item sent, never reused within a pool; the ids of a
// chunk's items are consecutive.
const (
	msgChunk = 1
	msgStop  = 2

	resReady = 1
	resOK    = 2
	resErr   = 3
	resPanic = 4
	resLimit = 5 // as resErr, for a task that failed after its soft time limit cancelled its context

	chunkHeader  = 15
	resultHeader = 9
)

// The pool's state block in shared memory: one 64-byte line per worker slot and one for the spare
// (no two workers share a cache line; a process keeps its line for life). A line:
//
//	offset size field
//	     0    8 running: the id of the item the worker is running or last ran (below)
//	     8    8 done: the progress of a bulk chunk (bulk.go)
//	    16    8 the worker: its pid in the low 32 bits, the low 32 bits of its start time
//	             (pids.StartTime) in the high ones; 0 until it has started
//	    24    8 busy since: Unix milliseconds when the chunk it runs began; 0 between chunks
//	    32    1 the length of the chunk's function name, and 0x80 when only its end is kept
//	    33   31 the name: its last 31 bytes when it is longer
//
// Words 2 to 4 are for people and tools (cmd/shmkit shows them); the pool itself reads only
// words 0 and 1. The worker writes the name only when it changes, with plain stores, so a reader
// racing a change may see a mix of two names: readers must validate it and treat it as a hint.
//
// Word 0 is the id of the item the worker is running or last ran: the worker stores it
// (sequentially consistent) before it starts the item. It is what makes a
// worker's death exact: after the death, the parent reads the word and compares it with the first
// item of the worker's that has no result. Equal: that item was running and is lost; otherwise the
// worker died before it started it (between taking a chunk and starting its next item), and the
// item and every later one are given to another worker, never lost.
const slotBytes = 64

// Offsets in a line of the state block (see slotBytes).
const (
	lineRunning = 0
	lineDone    = 8
	lineWorker  = 16
	lineSince   = 24
	lineName    = 32
	maxLineName = slotBytes - lineName - 1
	nameCut     = 0x80 // in the name's length byte: the name's beginning was cut off
)

// A slotLine is a worker's own line of the state block.
type slotLine struct {
	b             []byte // the line's slotBytes bytes
	running, done *uint64
	name          string // the name last written
}

func newSlotLine(b []byte) *slotLine {
	l := &slotLine{b: b, running: shm.Word64(b, lineRunning), done: shm.Word64(b, lineDone)}
	atomic.StoreUint64(shm.Word64(b, lineWorker), uint64(uint32(os.Getpid()))|pids.SelfStart()<<32)
	return l
}

// begin records that the worker starts a chunk of function name's items.
func (l *slotLine) begin(name string) {
	if name != l.name {
		l.name = name
		n, cut := len(name), byte(0)
		if n > maxLineName {
			name, n, cut = name[n-maxLineName:], maxLineName, nameCut // the end names the function
		}
		copy(l.b[lineName+1:slotBytes], name)
		l.b[lineName] = byte(n) | cut
	}
	atomic.StoreUint64(shm.Word64(l.b, lineSince), uint64(time.Now().UnixMilli()))
}

// end records that the worker has finished its chunk.
func (l *slotLine) end() { atomic.StoreUint64(shm.Word64(l.b, lineSince), 0) }

var stateKind = shm.RegisterKind("pool.state", func(r shm.Ref) (any, error) {
	return nil, fmt.Errorf("%w: a pool.state block is internal to a Pool", shm.ErrBadRef)
})

var _ = proc.Register(worker)

// A workerConfig is what a worker is started with, beside its rings and the state block.
type workerConfig struct {
	Slot     int           // its line in the state block
	Init     string        // the initializer's registered name, or ""
	InitArgs []byte        // its arguments, framed by encodeArgs
	Limit    time.Duration // the soft time limit of each item (0: none)
	MaxRSS   int64         // retire past this resident memory, in bytes (0: never)
	Spin     time.Duration // how long to watch the task ring after a chunk before blocking
}

// worker is the target every worker process runs.
func worker(tasks, results *ring.Queue, state shm.Ref, cfg workerConfig) error {
	_, b, err := shm.Resolve(state, stateKind)
	if err != nil {
		return fmt.Errorf("pool worker: state block: %w", err)
	}
	if cfg.Slot < 0 || len(b) < slotBytes*(cfg.Slot+1) {
		return fmt.Errorf("pool worker: slot %d outside a %d-byte state block", cfg.Slot, len(b))
	}
	ln := newSlotLine(b[slotBytes*cfg.Slot : slotBytes*(cfg.Slot+1)])
	if cfg.Init != "" {
		if err := runInit(cfg.Init, cfg.InitArgs); err != nil {
			return err
		}
	}
	grown := memoryCheck(cfg.MaxRSS)
	msg := binary.LittleEndian.AppendUint64([]byte{resReady}, uint64(os.Getpid()))
	if err := results.Put(msg); err != nil {
		return fmt.Errorf("pool worker: %w", err)
	}
	names := map[string]*entry{}
	out := make([]byte, 0, 4096)
	idle := spinner{max: cfg.Spin, budget: cfg.Spin}
	for {
		t0 := idle.wait(tasks)
		m, err := tasks.Get()
		if err != nil {
			return fmt.Errorf("pool worker: %w", err)
		}
		idle.learn(t0)
		if len(m) == 1 && m[0] == msgStop {
			return nil
		}
		if len(m) > 0 && m[0] == msgBulk {
			err := runBulkChunk(m, names, ln, results.Put)
			ln.end()
			if err != nil {
				return fmt.Errorf("pool worker: %w", err)
			}
			continue
		}
		c, err := parseChunk(m)
		if err != nil {
			return err
		}
		if testHookTaken != nil {
			testHookTaken()
		}
		e := entryFor(names, c.name)
		ln.begin(c.name)
		rest := c.items
		for i := range c.count {
			var arg []byte
			arg, rest = nextItem(rest)
			id := c.first + uint64(i)
			atomic.StoreUint64(ln.running, id) // publishes "id started" before anything of it runs
			out = runItem(e, id, arg, out[:0], cfg.Limit)
			if i == c.count-1 {
				ln.end()
			}
			if err := results.Put(out); err != nil {
				return fmt.Errorf("pool worker: %w", err)
			}
			if grown() {
				// Retire: exit with the item's result sent and nothing else started. The
				// pool gives what this worker held and had not started to another worker.
				return nil
			}
		}
	}
}

// A spinner decides how long a worker watches its task ring after a chunk before it blocks
// (which costs a wake-up in the kernel when the next task comes): as long as twice the last gap
// between a chunk and the next task, when that gap was shorter than max, and otherwise half its
// last budget. A caller that sends tasks one after another, on a machine with a CPU free, gets a
// worker that watches; an idle pool, or one on an overloaded machine (where the gap includes
// waiting for a CPU, and watching would take the CPU the caller needs), gets one that sleeps.
type spinner struct {
	max, budget time.Duration
}

// wait watches q for up to the budget and returns when it started (zero when it did not).
func (s *spinner) wait(q *ring.Queue) time.Time {
	if s.max <= 0 || !q.Empty() {
		return time.Time{}
	}
	t0 := time.Now()
	spinFor(q, s.budget)
	return t0
}

// learn adjusts the budget once the next task has come, from the gap since t0.
func (s *spinner) learn(t0 time.Time) {
	if t0.IsZero() {
		return
	}
	g := time.Since(t0)
	switch {
	case g < s.max:
		s.budget = min(s.max, max(2*g, time.Microsecond))
	case s.budget < time.Microsecond:
		s.budget = 0
	default:
		s.budget /= 2
	}
}

// spinFor watches q for up to d while it is empty, and returns when a message is there or d has
// passed. A process asleep in the kernel takes 20-25 µs here to be woken on another CPU (more on a
// loaded machine); one watching answers in well under one. Between looks it lets the process's
// other goroutines run, which also keeps it from reading the ring's head in a tight loop (that
// would take the line away from the producer at every look).
func spinFor(q *ring.Queue, d time.Duration) {
	end := time.Now().Add(d)
	for i := 0; q.Empty(); i++ {
		if i&15 == 15 && time.Now().After(end) {
			return
		}
		runtime.Gosched()
	}
}

// entryFor returns the entry of name, from a worker's cache of them; a name this binary has not
// registered gets an entry whose items fail.
func entryFor(names map[string]*entry, name string) *entry {
	e := names[name]
	if e == nil {
		if e = lookupName(name); e == nil {
			e = unregistered(name)
		}
		names[name] = e
	}
	return e
}

// memoryCheck returns a function, called after each item, that reports whether this process's
// resident memory has passed limit bytes (never, for limit 0). It reads /proc/self/statm after
// every item that ran 1 ms or more, and otherwise at most every 20 ms, so that tiny tasks do not
// pay a system call each.
func memoryCheck(limit int64) func() bool {
	if limit <= 0 {
		return func() bool { return false }
	}
	page := int64(os.Getpagesize())
	var last, next time.Time
	return func() bool {
		now := time.Now()
		long := now.Sub(last) >= time.Millisecond
		last = now
		if !long && now.Before(next) {
			return false
		}
		next = now.Add(20 * time.Millisecond)
		b, err := os.ReadFile("/proc/self/statm")
		if err != nil {
			return false
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return false
		}
		pages, err := strconv.ParseInt(f[1], 10, 64)
		return err == nil && pages*page > limit
	}
}

// testHookTaken, set by a test's initializer in the worker, runs between taking a chunk and
// starting its first item: the window a death there must not lose the chunk in.
var testHookTaken func()

// runItem runs one item and appends its result message to out. With a time limit, the item's
// context (TaskContext) is cancelled when it has run that long.
func runItem(e *entry, id uint64, arg, out []byte, limit time.Duration) (res []byte) {
	out = append(out, resOK)
	out = binary.LittleEndian.AppendUint64(out, id)
	ctx := context.Background()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
		taskCtx.Store(&ctx)
		defer taskCtx.Store(nil)
	}
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			res = append(out[:0], resPanic)
			res = binary.LittleEndian.AppendUint64(res, id)
			res = binary.LittleEndian.AppendUint32(res, uint32(len(msg)))
			res = append(res, msg...)
			res = append(res, debug.Stack()...)
		}
	}()
	res, err := e.run(arg, out)
	if err != nil {
		kind := byte(resErr)
		if ctx.Err() != nil {
			kind = resLimit
		}
		res = append(out[:0], kind)
		res = binary.LittleEndian.AppendUint64(res, id)
		res = append(res, err.Error()...)
	}
	return res
}

// taskCtx is the context of the task this worker is running, when the pool has a time limit.
var taskCtx atomic.Pointer[context.Context]

// TaskContext returns, in a worker, the context of the task it is running: it is cancelled when
// the task has run for Options.TaskTimeout (the soft limit), so that a task that watches it can
// stop cleanly; its error then matches ErrTaskTimeout. Without a TaskTimeout, and outside a task,
// it returns context.Background().
func TaskContext() context.Context {
	if c := taskCtx.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// unregistered stands for a function the parent has registered and this worker has not: it was
// registered after proc.Main ran (in main, not at package level). Its items fail, and the worker
// carries on; exiting would only hand them to another worker that lacks it too.
func unregistered(name string) *entry {
	return &entry{name: name, run: func(_, dst []byte) ([]byte, error) {
		return dst, fmt.Errorf("%s is not registered in the worker: register it from a package-level var, so that it is registered before proc.Main runs", name)
	}}
}

func runInit(name string, args []byte) error {
	e := lookupName(name)
	if e == nil || e.typed {
		return fmt.Errorf("pool worker: initializer %q is not registered with RegisterFunc in this binary", name)
	}
	in, err := decodeArgs(e.fn.Type(), args)
	if err != nil {
		return fmt.Errorf("pool worker: initializer %s: %w", name, err)
	}
	if _, err := callReflect(e.fn, in, nil); err != nil {
		return fmt.Errorf("pool worker: initializer %s: %w", name, err)
	}
	return nil
}

// A parsedChunk is a chunk message taken apart; items points into the message: count items, each
// a length u32 and its bytes, checked by parseChunk.
type parsedChunk struct {
	first uint64
	name  string
	count int
	items []byte
}

// next returns the first item of rest and what follows it; rest was checked by parseChunk.
func nextItem(rest []byte) (item, after []byte) {
	l := binary.LittleEndian.Uint32(rest)
	return rest[4 : 4+l : 4+l], rest[4+l:]
}

// parseChunk validates a chunk message, which comes from another process, without copying it.
func parseChunk(m []byte) (parsedChunk, error) {
	var c parsedChunk
	if len(m) < chunkHeader || m[0] != msgChunk {
		return c, fmt.Errorf("%w: task message of %d bytes", ErrCorrupt, len(m))
	}
	c.first = binary.LittleEndian.Uint64(m[1:9])
	n := binary.LittleEndian.Uint32(m[9:13])
	nl := int(binary.LittleEndian.Uint16(m[13:15]))
	m = m[chunkHeader:]
	if n == 0 { // the pool sends none: a worker would show it running with nothing to answer
		return c, fmt.Errorf("%w: chunk of no items", ErrCorrupt)
	}
	if nl > len(m) || uint64(n)*4 > uint64(len(m)-nl) {
		return c, fmt.Errorf("%w: chunk of %d items in %d bytes", ErrCorrupt, n, len(m))
	}
	c.name = string(m[:nl])
	c.items, c.count = m[nl:], int(n)
	rest := c.items
	for i := range c.count {
		if len(rest) < 4 {
			return c, fmt.Errorf("%w: chunk item %d truncated", ErrCorrupt, i)
		}
		if l := binary.LittleEndian.Uint32(rest); uint64(l) > uint64(len(rest)-4) {
			return c, fmt.Errorf("%w: chunk item %d of %d bytes, %d left", ErrCorrupt, i, l, len(rest)-4)
		}
		_, rest = nextItem(rest)
	}
	if len(rest) != 0 {
		return c, fmt.Errorf("%w: %d bytes after a chunk's items", ErrCorrupt, len(rest))
	}
	return c, nil
}

// describeExit says how a process ended, from proc's exit code (negative: a signal). What a
// panic outside any task printed is quoted from the worker's stderr beside it.
func describeExit(code int) string {
	if code < 0 {
		return fmt.Sprintf("was killed by signal %d (%v)", -code, syscall.Signal(-code))
	}
	return fmt.Sprintf("exited with code %d", code)
}

// exitCode returns how p ended; it is the one place that reads proc's exit status, so that a
// change there touches one function.
func exitCode(p *proc.Process) int {
	code, ok := p.ExitCode()
	if !ok {
		return -1
	}
	return code
}

func leUint64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func leUint32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// A tail passes a worker's standard error on to w and keeps its last bytes, which the error of a
// task lost with the worker quotes.
type tail struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4096

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	t.mu.Unlock()
	return t.w.Write(b)
}

// lastLines returns at most n of the last lines written.
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	s := strings.TrimRight(string(t.buf), "\n")
	t.mu.Unlock()
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// spins say how long the two ends of an Apply round trip watch before they sleep: the worker its
// task ring after a chunk (the most its spinner may watch), and an Apply the worker's result ring,
// whose results it reads itself (Pool.watch). Measured on the 2-vCPU machine (an Apply of a tiny
// task, back to back, medians of 3 runs): with neither watching a round trip took 46 µs; with
// the Apply watching 20 µs, 5.4 µs; with the worker also watching up to 50 µs, 3.4 µs. With two
// processes hogging both CPUs beside the pool, the same three took 520-880, 300-390 and 46-130 µs: a
// woken process waits for a CPU, one that watches already has it. An Apply watching 50 µs
// instead of 20 gained nothing measurable.
type spins struct{ worker, caller time.Duration }

// defaultSpins are the spins of the pools New makes.
var defaultSpins = spins{worker: 50 * time.Microsecond, caller: 20 * time.Microsecond}
