package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

// Options configure a Pool; the zero value (or nil) is a pool of proc.CPUCount() workers.
type Options struct {
	// Workers is the number of worker processes (0: proc.CPUCount()).
	Workers int
	// MaxTasksPerChild, when positive, replaces a worker by a fresh process after it has been
	// given that many tasks, as Python's maxtasksperchild; a task here is a chunk (as in Python,
	// where a chunk is one task of the worker's loop). The worker finishes its tasks and exits;
	// nothing is lost.
	MaxTasksPerChild int
	// Initializer, when not nil, is a function registered with RegisterFunc that each worker
	// calls with InitArgs once, before its first task: per-worker state (a connection, a loaded
	// model) lives in the worker's package variables. InitArgs may hold shared objects (locks,
	// values, queues), which cross as they do to proc.Start. A worker whose initializer returns an
	// error or panics exits; New fails with that worker's exit, and later a pool that can start no
	// worker fails its tasks with ErrBroken.
	Initializer any
	// InitArgs are the Initializer's arguments, checked against its parameters by New.
	InitArgs []any
	// Retries is how many more times a task whose worker died is given to another worker before
	// it fails with ErrWorkerDied; a task that kills every worker it touches therefore costs
	// Retries+1 worker processes, and never loops. 0: no retry.
	Retries int
	// TaskTimeout, when positive, limits how long one item may run. At the limit its context
	// (TaskContext) is cancelled: a task that watches it can return, and then fails with an error
	// matching ErrTaskTimeout while its worker carries on. KillGrace later (0: at once) a task still
	// running has its worker killed and replaced, and fails with a *WorkerDiedError that matches
	// ErrTaskTimeout; it is not retried. The pool measures from when it learns the item could
	// start (the result before it arrived, or the chunk was sent to an idle worker): never less
	// than the item's real running time, so a worker is never killed early.
	TaskTimeout time.Duration
	// KillGrace is how long past TaskTimeout a task may go on before its worker is killed.
	KillGrace time.Duration
	// MaxMemoryPerChild, when positive, retires a worker whose resident memory (RSS) has passed
	// that many bytes, after the item it is running (billiard's max_memory_per_child): it exits,
	// what it held and had not started goes to another worker, and a fresh worker replaces it.
	// Nothing fails. The worker looks at its memory between items: after each item that ran 1 ms
	// or more, and otherwise at most every 20 ms.
	MaxMemoryPerChild int64
	// QueueSize is the size in bytes of each worker's task ring and result ring (0: 256 KiB).
	// Larger messages still go through: ring spills them to the heap.
	QueueSize int
}

// A Pool is a set of worker processes that run registered functions on items (Python's
// multiprocessing.Pool). Calls are the package functions Map, MapAsync, Imap, ImapUnordered,
// Apply, ApplyAsync, Starmap and StarmapAsync, which take the pool as their first argument (Go
// methods cannot have type parameters). A Pool is safe for concurrent use; any number of calls may
// be in progress at once.
//
// Each worker has a task ring and a result ring of its own, in shared memory. The pool gives each
// worker at most two chunks at a time and keeps, for every worker, the list of chunks it gave it;
// the worker stores the id of each item in a shared word before it runs it. So when a worker
// dies — it is noticed the moment proc reaps it, through Process.Done, with no polling — the pool
// knows exactly which item was running: that item fails with a *WorkerDiedError (or is retried,
// see Options.Retries), every item of the worker's that had not started is given to another
// worker, a new worker takes the dead one's place, and every other call goes on.
//
// Close, then Join, or Terminate, end the pool; after Join returns no worker process and no shared
// memory of the pool is left.
type Pool struct {
	opts     Options
	size     int
	initArgs []byte
	initName string
	state    shm.Ref
	words    []byte // the state block: one running-item word per slot

	mu         sync.Mutex // guards the fields from here to wg
	cond       *sync.Cond // signalled when a worker becomes ready or exits
	workers    []*workerState
	pending    []*chunk
	nextID     uint64
	closed     bool
	terminated bool
	broken     error
	feeding    int          // streaming calls still adding chunks
	preReady   int          // workers in a row that died before they were ready
	starting   bool         // New is waiting for the first workers
	freeErrs   []error      // failures to free a dead worker's rings, for Join to return
	spare      *workerState // a worker started ahead, ready to take a slot (see spare.go)
	spareLine  int          // the state line the next spare takes; -1 while one has it
	spareFails int          // spares in a row that died before they were ready

	wg       sync.WaitGroup // the goroutines that start and serve workers
	freeOnce sync.Once
	exitOnce sync.Once
	exitCh   chan struct{} // closed once every worker goroutine has ended (see exited)
	freeErr  error

	spin      spins // taken from the package's settings when the pool is made
	bulkBytes int   // the block size of its bulk chunks, bulkBytes when it was made
	noSpare   bool  // noSpare when it was made

	total, done, failed, retried, started atomic.Int64
	broke                                 atomic.Int64 // results that broke the protocol or a ring that failed (a test reads it)
}

// A workerState is the pool's view of one worker process.
type workerState struct {
	slot           int // its index in p.workers; -1 for the spare
	line           int // its line in the state block
	p              *proc.Process
	pid            int
	tasks, results *ring.Queue
	out            []*chunk // the chunks given to it and not finished, in order
	sent           int      // chunks given to it
	ready          bool
	stopping       bool // it was sent a stop message
	stderr         *tail
	rmu            sync.Mutex  // held to read results: by serve, or by an Apply watching (take)
	rbuf           []byte      // the buffer results are read into, under rmu
	drained        atomic.Bool // set under rmu: the worker is gone, its results all read
	limit          *time.Timer // fires when the item it runs passes the hard time limit
	killedFor      uint64      // the item whose time limit it was killed for
}

// maxOut is how many chunks a worker holds at once: one running and one waiting, so that it never
// waits for the parent between chunks.
const maxOut = 2

// maxBounces is how many workers in a row may die holding a chunk without starting its first item
// before that item fails as if it had killed them: such deaths are rare (a kill in the instant
// between taking a chunk and starting it), and a chunk that causes them must not cycle for ever.
const maxBounces = 3

// maxPreReady is how many replacement workers in a row may die before they are ready before the
// pool gives up (ErrBroken): a binary that cannot start a worker must not be retried forever.
// A death by SIGKILL is usually someone else's doing (an operator, a supervisor, the OOM killer,
// a chaos test) rather than the binary's, so when the last one was a SIGKILL the pool goes on
// until maxPreReadyKilled in a row: an OOM kill at every start still ends in ErrBroken.
const (
	maxPreReady       = 3
	maxPreReadyKilled = 10
)

// New starts a pool of worker processes, all at once, and returns when every one has run its
// initializer and is ready for tasks. It fails, with nothing left running, when opts are bad (a
// negative count or limit), the initializer is not registered or its arguments do not fit, or a
// worker cannot start or dies before it is ready.
func New(opts *Options) (*Pool, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Workers < 0 || o.MaxTasksPerChild < 0 || o.Retries < 0 || o.QueueSize < 0 || o.TaskTimeout < 0 || o.KillGrace < 0 || o.MaxMemoryPerChild < 0 {
		return nil, fmt.Errorf("%w: negative option in %+v", ErrBadArgs, o)
	}
	if o.Workers == 0 {
		o.Workers = proc.CPUCount()
	}
	p := &Pool{opts: o, size: o.Workers, nextID: 1, spareLine: o.Workers, spin: defaultSpins, bulkBytes: bulkBytes, noSpare: noSpare}
	p.cond = sync.NewCond(&p.mu)
	if o.Initializer != nil {
		e, err := lookup(o.Initializer, false)
		if err != nil {
			return nil, fmt.Errorf("pool: Initializer: %w", err)
		}
		if p.initArgs, err = encodeArgs(e.fn.Type(), o.InitArgs, true); err != nil {
			return nil, fmt.Errorf("pool: InitArgs: %w", err)
		}
		p.initName = e.name
	} else if len(o.InitArgs) > 0 {
		return nil, fmt.Errorf("%w: InitArgs without an Initializer", ErrBadArgs)
	}
	ref, err := shm.Alloc(slotBytes*(p.size+1), stateKind) // one line more, for the spare
	if err != nil {
		return nil, fmt.Errorf("pool: state block: %w", err)
	}
	if _, p.words, err = shm.Resolve(ref, stateKind); err != nil {
		shm.Free(ref)
		return nil, fmt.Errorf("pool: state block: %w", err)
	}
	p.state = ref
	p.workers = make([]*workerState, p.size)
	p.starting = true
	p.wg.Add(p.size)
	for slot := range p.size {
		go p.startWorker(slot, slot)
	}
	p.mu.Lock()
	for p.broken == nil && !p.allReadyLocked() {
		p.cond.Wait()
	}
	p.starting = false
	err = p.broken
	p.mu.Unlock()
	if err != nil {
		p.Terminate()
		return nil, err
	}
	return p, nil
}

func (p *Pool) allReadyLocked() bool {
	for _, w := range p.workers {
		if w == nil || !w.ready {
			return false
		}
	}
	return true
}

// Size returns the number of worker processes the pool keeps running.
func (p *Pool) Size() int { return p.size }

// startWorker starts the worker of slot, on line of the state block, and serves it; p.wg was
// raised for it. Slot -1 starts the spare.
func (p *Pool) startWorker(slot, line int) {
	p.mu.Lock()
	if p.terminated || p.broken != nil {
		p.mu.Unlock()
		p.wg.Done()
		return
	}
	p.mu.Unlock()
	for off := 0; off < lineName; off += 8 { // running, done, worker, since: a fresh line
		atomic.StoreUint64(shm.Word64(p.words, slotBytes*line+off), 0)
	}
	w, err := p.spawn(slot, line)
	if slot < 0 {
		p.startedSpare(line, w, err)
		return
	}
	p.mu.Lock()
	if err != nil {
		p.preReady++
		var fails []failure
		if p.starting || p.preReady >= maxPreReady {
			fails = p.breakLocked(fmt.Errorf("%w: %v", ErrBroken, err))
		} else {
			// Try the slot again shortly (a process limit, say, may pass), still counting
			// towards maxPreReady.
			p.wg.Add(1)
			go func(backoff time.Duration) {
				time.Sleep(backoff)
				p.startWorker(slot, line)
			}(time.Duration(p.preReady) * 10 * time.Millisecond)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
		for _, f := range fails {
			p.deliver(f.s, f.idx, nil, f.err)
		}
		p.wg.Done()
		return
	}
	p.workers[slot] = w
	if p.terminated {
		w.p.Kill()
	}
	p.mu.Unlock()
	p.started.Add(1)
	p.serve(w)
}

func (p *Pool) spawn(slot, line int) (*workerState, error) {
	qo := &ring.Options{Size: p.opts.QueueSize, SingleProducer: true, SingleConsumer: true}
	tasks, err := ring.NewQueue(qo)
	if err != nil {
		return nil, fmt.Errorf("pool: task queue: %w", err)
	}
	results, err := ring.NewQueue(qo)
	if err != nil {
		tasks.Free()
		return nil, fmt.Errorf("pool: result queue: %w", err)
	}
	w := &workerState{slot: slot, line: line, tasks: tasks, results: results, stderr: &tail{w: os.Stderr}}
	cfg := workerConfig{Slot: line, Init: p.initName, InitArgs: p.initArgs, Limit: p.opts.TaskTimeout, MaxRSS: p.opts.MaxMemoryPerChild, Spin: p.spin.worker}
	w.p = proc.New(worker, tasks, results, p.state, cfg)
	w.p.Name = fmt.Sprintf("PoolWorker-%d", slot+1)
	if slot < 0 {
		w.p.Name = "PoolWorker-spare"
	}
	w.p.Daemon = true
	w.p.Stderr = w.stderr
	if err := w.p.Start(); err != nil {
		tasks.Free()
		results.Free()
		return nil, fmt.Errorf("pool: start worker: %w", err)
	}
	w.pid = w.p.Pid()
	return w, nil
}

// serve reads a worker's results until it ends, then settles what it held. The worker's end is
// seen through proc's reaping (Done), which cancels the wait on the result ring at once.
//
// serve is not the only reader: an Apply that watches for its result takes the worker's results
// itself (take), so that a tiny task's round trip does not wait for this goroutine to be woken
// and scheduled. Both read under w.rmu; serve only waits, without taking, while it does not hold
// it.
func (p *Pool) serve(w *workerState) {
	defer p.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-w.p.Done()
		cancel()
	}()
	for {
		w.rmu.Lock()
		ok := p.takeLocked(w)
		w.rmu.Unlock()
		if !ok {
			break
		}
		// Nothing there: let the goroutine a result just readied run before this one waits.
		runtime.Gosched()
		if w.results.Empty() {
			if _, err := ring.WaitContext(ctx, w.results); err != nil {
				break
			}
		}
	}
	// A worker that broke the protocol, or a ring that failed, is killed: its state is unknown.
	w.p.Kill()
	<-w.p.Done()
	cancel()
	// Everything the worker published before it died is in the ring now: take it, so that only
	// what it really had not finished is settled as lost. Afterwards no one reads the ring again
	// (onExit frees it).
	w.rmu.Lock()
	p.takeLocked(w)
	w.drained.Store(true)
	w.rmu.Unlock()
	p.onExit(w)
}

// takeLocked handles every result w has published, and reports false when one broke the
// protocol or the ring failed. The caller holds w.rmu.
func (p *Pool) takeLocked(w *workerState) bool {
	for {
		m, err := w.results.GetAppendTimeout(w.rbuf[:0], 0)
		if errors.Is(err, ErrTimeout) {
			return true
		}
		if err != nil {
			p.broke.Add(1)
			return false
		}
		w.rbuf = m
		if !p.onMessage(w, m) {
			p.broke.Add(1)
			return false
		}
	}
}

// take is takeLocked for a caller watching for a result of w: it does nothing when serve (or
// another caller) is reading, and kills a worker that broke the protocol (serve then settles it).
func (p *Pool) take(w *workerState) {
	if !w.rmu.TryLock() {
		return
	}
	if !w.drained.Load() && !p.takeLocked(w) {
		w.p.Kill()
	}
	w.rmu.Unlock()
}

// onMessage handles one message from w and reports whether it was valid.
func (p *Pool) onMessage(w *workerState, m []byte) bool {
	if len(m) < resultHeader {
		return false
	}
	if m[0] == resReady {
		p.mu.Lock()
		w.ready = true
		p.preReady = 0
		if w.slot < 0 {
			p.spareFails = 0
		}
		p.dispatchLocked()
		p.cond.Broadcast()
		p.mu.Unlock()
		return true
	}
	id := leUint64(m[1:9])
	p.mu.Lock()
	if len(w.out) == 0 || !w.ready {
		p.mu.Unlock()
		return false
	}
	c := w.out[0]
	if c.bulk {
		return p.onBulkMessage(w, c, m, id)
	}
	if id != c.first+uint64(c.done) {
		p.mu.Unlock()
		return false
	}
	idx := c.index + c.done
	c.done++
	if c.done == c.n {
		w.out[0] = nil // the chunk's message may be megabytes: let it go now
		w.out = w.out[1:]
		p.dispatchLocked()
	}
	p.armLocked(w)
	p.mu.Unlock()
	res, err := parseResult(m, idx, w.pid)
	p.deliver(c.s, idx, res, err)
	return !errors.Is(err, ErrCorrupt)
}

// parseResult takes a result message apart: the result's bytes, or the task's error.
func parseResult(m []byte, idx, pid int) ([]byte, error) {
	body := m[resultHeader:]
	switch m[0] {
	case resOK:
		return body, nil
	case resErr, resLimit:
		return nil, &TaskError{Index: idx, Pid: pid, Message: string(body), Timeout: m[0] == resLimit}
	case resPanic:
		if len(body) < 4 {
			return nil, fmt.Errorf("%w: panic message of %d bytes", ErrCorrupt, len(body))
		}
		n := leUint32(body)
		if uint64(n) > uint64(len(body)-4) {
			return nil, fmt.Errorf("%w: panic message of %d bytes in %d", ErrCorrupt, n, len(body)-4)
		}
		return nil, &TaskError{Index: idx, Pid: pid, Message: string(body[4 : 4+n]), Stack: string(body[4+n:]), Panic: true}
	}
	return nil, fmt.Errorf("%w: result type %d", ErrCorrupt, m[0])
}

func (p *Pool) deliver(s sink, idx int, res []byte, err error) {
	if err != nil {
		p.failed.Add(1)
	} else {
		p.done.Add(1)
	}
	s.deliver(idx, res, err)
}

// A failure is an item's error, delivered after the pool's lock is released.
type failure struct {
	s   sink
	idx int
	err error
}

// onExit settles the end of a worker: what it was running fails (or is retried), what it had not
// started goes back to the front of the pending chunks, and a new worker takes its slot unless the
// pool is ending.
func (p *Pool) onExit(w *workerState) {
	code := exitCode(w.p)
	p.mu.Lock()
	if w.limit != nil {
		w.limit.Stop()
	}
	if w.slot < 0 {
		p.spareExitedLocked(w)
		p.mu.Unlock()
		p.freeRings(w)
		return
	}
	var fails []failure
	var back []*chunk
	running := atomic.LoadUint64(shm.Word64(p.words, slotBytes*w.line))
	var settles []bulkSettle
	for i, c := range w.out {
		if !c.bulk || c.mem == nil {
			continue
		}
		done := bulkDone(c, running, atomic.LoadUint64(shm.Word64(p.words, slotBytes*w.line+lineDone)))
		settles = append(settles, bulkSettle{c, max(done, 0)})
		p.countBulkLocked(c, max(done, 0))
		if done >= 0 {
			c.done = done // its items before done are complete or failed: settled below
			if i == 0 {
				running = c.first + uint64(done) // the item the done word names was running
			}
		}
	}
	for i, c := range w.out {
		bounces := 0
		if i == 0 && c.done < c.n && running != c.first+uint64(c.done) {
			if c.done == 0 {
				bounces = c.bounces + 1
			}
			if bounces > maxBounces {
				// Worker after worker dies before it starts this item: fail it as if it ran.
				running, bounces = c.first+uint64(c.done), 0
			}
		}
		if i == 0 && c.done < c.n && running == c.first+uint64(c.done) {
			idx := c.index + c.done
			switch {
			case p.terminated:
				fails = append(fails, failure{c.s, idx, fmt.Errorf("%w: task %d", ErrTerminated, idx)})
			case w.killedFor == running:
				fails = append(fails, failure{c.s, idx, &WorkerDiedError{Pid: w.pid, ExitCode: code, Index: idx, Attempts: c.attempt, Limit: p.opts.TaskTimeout + p.opts.KillGrace}})
			case c.attempt <= p.opts.Retries:
				back = append(back, c.slice(c.done, c.done+1, c.attempt+1))
				p.retried.Add(1)
			default:
				fails = append(fails, failure{c.s, idx, &WorkerDiedError{Pid: w.pid, ExitCode: code, Index: idx, Attempts: c.attempt, Stderr: w.stderr.lastLines(5)}})
			}
			c.done++
		}
		if c.done < c.n {
			rest := c.slice(c.done, c.n, c.attempt)
			rest.bounces = bounces
			back = append(back, rest)
		}
	}
	w.out = nil
	p.workers[w.slot] = nil
	p.pending = append(back, p.pending...)
	if !w.ready {
		p.preReady++
		err := fmt.Errorf("%w: worker pid %d %s before it was ready", ErrBroken, w.pid, describeExit(code))
		if s := w.stderr.lastLines(5); s != "" {
			err = fmt.Errorf("%w; its stderr ended with:\n%s", err, s)
		}
		if p.starting || p.preReady >= maxPreReady && code != -int(syscall.SIGKILL) || p.preReady >= maxPreReadyKilled {
			fails = append(fails, p.breakLocked(err)...)
		}
	}
	switch {
	case p.terminated:
		fails = append(fails, p.dropPendingLocked(ErrTerminated)...)
	case p.broken != nil:
		fails = append(fails, p.dropPendingLocked(p.broken)...) // no worker will come for them
	}
	if p.broken == nil && !p.terminated && !p.idleClosedLocked() {
		p.replaceLocked(w)
	}
	p.dispatchLocked()
	p.cond.Broadcast()
	p.mu.Unlock()
	p.freeRings(w)
	for _, b := range settles {
		p.settleBulk(b.c, b.upto)
	}
	for _, f := range fails {
		p.deliver(f.s, f.idx, nil, f.err)
	}
}

// idleClosedLocked reports whether the pool is closed and has no work left to give out: its
// workers are then told to stop, and one that dies is not replaced.
func (p *Pool) idleClosedLocked() bool {
	return p.closed && len(p.pending) == 0 && p.feeding == 0
}

// breakLocked marks the pool broken by err and fails every pending item with it.
func (p *Pool) breakLocked(err error) []failure {
	if p.broken == nil {
		p.broken = err
	}
	return p.dropPendingLocked(p.broken)
}

// dropPendingLocked removes every pending chunk and returns its items' failures with err.
func (p *Pool) dropPendingLocked(err error) []failure {
	var fails []failure
	for _, c := range p.pending {
		for i := range c.n {
			fails = append(fails, failure{c.s, c.index + i, fmt.Errorf("%w: task %d not run", err, c.index+i)})
		}
	}
	p.pending = nil
	return fails
}

// dispatchLocked gives pending chunks to ready workers with room, the least busy first, and tells
// the workers to stop once the pool is closed and has nothing left to give.
func (p *Pool) dispatchLocked() {
	for len(p.pending) > 0 {
		c := p.pending[0]
		if c.s.abandoned() {
			p.pending[0] = nil
			p.pending = p.pending[1:]
			continue
		}
		w := p.pickLocked()
		if w == nil {
			break
		}
		p.pending[0] = nil
		p.pending = p.pending[1:]
		first := p.nextID
		p.nextID += uint64(c.n)
		var msg []byte
		var err error
		if c.bulk {
			msg, err = p.placeBulk(c, first)
		} else {
			msg = c.seal(first)
		}
		ok := false
		if err == nil {
			ok, err = w.tasks.TryPut(msg)
		}
		if err != nil {
			p.freeBulkLocked(c)
			// The message cannot be sent (the heap has no room for it): its items fail, the
			// worker is sound. Retrying would fail again, and forever.
			go p.failChunk(c, fmt.Errorf("pool: send task to worker pid %d: %w", w.pid, err))
			continue
		}
		if !ok {
			// A ring holding at most maxOut chunks is never full: the worker's ring is not sound.
			// Its death puts the chunk back.
			w.out = append(w.out, c)
			w.stopping = true
			w.p.Kill()
			continue
		}
		w.out = append(w.out, c)
		c.to.Store(w)
		if len(w.out) == 1 {
			p.armLocked(w)
		}
		w.sent++
		if p.opts.MaxTasksPerChild > 0 && w.sent >= p.opts.MaxTasksPerChild {
			p.stopLocked(w)
		}
	}
	if p.idleClosedLocked() {
		for _, w := range p.workers {
			if w != nil && !w.stopping {
				p.stopLocked(w)
			}
		}
		if w := p.spare; w != nil && w.ready && !w.stopping {
			p.stopLocked(w)
		}
	}
}

// armLocked starts the clock of the hard time limit for the item w runs next, if any.
func (p *Pool) armLocked(w *workerState) {
	if p.opts.TaskTimeout <= 0 {
		return
	}
	if w.limit != nil {
		w.limit.Stop()
	}
	if len(w.out) == 0 {
		return
	}
	c := w.out[0]
	id := c.first + uint64(c.done)
	w.limit = time.AfterFunc(p.opts.TaskTimeout+p.opts.KillGrace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(w.out) > 0 && w.out[0].first+uint64(w.out[0].done) == id {
			w.killedFor = id
			w.p.Kill()
		}
	})
}

// bulkOK reports whether the pool sends bulk chunks: not when it checks each item's time or
// memory.
func (p *Pool) bulkOK() bool { return p.opts.TaskTimeout == 0 && p.opts.MaxMemoryPerChild == 0 }

func (p *Pool) failChunk(c *chunk, err error) {
	for i := range c.n {
		p.deliver(c.s, c.index+i, nil, err)
	}
}

func (p *Pool) pickLocked() *workerState {
	var best *workerState
	for _, w := range p.workers {
		if w != nil && w.ready && !w.stopping && len(w.out) < maxOut && (best == nil || len(w.out) < len(best.out)) {
			best = w
		}
	}
	return best
}

// stopLocked tells w to exit once it has finished what it was given.
func (p *Pool) stopLocked(w *workerState) {
	w.stopping = true
	if ok, err := w.tasks.TryPut([]byte{msgStop}); !ok || err != nil {
		w.p.Kill()
	}
}

// submit adds a call's chunks to the pending ones. fromFeed marks the chunks of a streaming call
// that began before Close, which may still add chunks after it.
func (p *Pool) submit(chunks []*chunk, fromFeed bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usableLocked(fromFeed); err != nil {
		return err
	}
	for _, c := range chunks {
		p.total.Add(int64(c.n))
	}
	p.pending = append(p.pending, chunks...)
	p.dispatchLocked()
	return nil
}

// usable returns the error a new call on p gets, or nil.
func (p *Pool) usable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usableLocked(false)
}

// usableLocked is usable; fromFeed admits the chunks of a streaming call begun before Close.
func (p *Pool) usableLocked(fromFeed bool) error {
	switch {
	case p.broken != nil:
		return p.broken
	case p.terminated:
		return ErrTerminated
	case p.closed && !fromFeed:
		return ErrClosed
	}
	return nil
}

// beginFeed registers a streaming call, which keeps a closed pool's workers until endFeed.
func (p *Pool) beginFeed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usableLocked(false); err != nil {
		return err
	}
	p.feeding++
	return nil
}

func (p *Pool) endFeed() {
	p.mu.Lock()
	p.feeding--
	p.dispatchLocked()
	p.mu.Unlock()
}

// Close stops the pool from accepting calls (as Python's close): calls already made run to their
// end, then the workers exit. Calls made after Close fail with ErrClosed. Close does not wait;
// Join does.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.dispatchLocked()
	return nil
}

// Terminate stops every worker at once (SIGKILL), without finishing the calls in progress: their
// unfinished items fail with ErrTerminated. It waits for the workers to be reaped and frees the
// pool's shared memory, as Join does.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	p.closed, p.terminated = true, true
	fails := p.dropPendingLocked(ErrTerminated)
	for _, w := range p.workers {
		if w != nil {
			w.p.Kill()
		}
	}
	if p.spare != nil {
		p.spare.p.Kill()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, f := range fails {
		p.deliver(f.s, f.idx, nil, f.err)
	}
	return p.join()
}

// Join waits for every worker to exit, after Close (when the calls made before it have finished)
// or Terminate, and frees the pool's shared memory; it returns what failed to be freed, if
// anything. Before Close it returns ErrNotClosed, as Python's join raises ValueError. Afterwards
// no process or shared memory of the pool is left. Join waits without bound, as Python's does;
// JoinTimeout and JoinContext bound the wait.
func (p *Pool) Join() error { return p.JoinTimeout(Forever) }

// JoinTimeout is Join waiting at most timeout (Forever: no bound; 0: only look). When the
// workers have not all exited in time it returns an error matching ErrTimeout and frees nothing:
// the pool goes on finishing its calls, and Join may be called again.
func (p *Pool) JoinTimeout(timeout time.Duration) error {
	if err := p.joinable(); err != nil {
		return err
	}
	if err := deadline.WaitChan("pool: Join", p.exited(), timeout); err != nil {
		return err
	}
	return p.join()
}

// JoinContext is Join that gives up when ctx ends, returning ctx.Err(); as with JoinTimeout,
// the pool goes on and Join may be called again.
func (p *Pool) JoinContext(ctx context.Context) error {
	if err := p.joinable(); err != nil {
		return err
	}
	select {
	case <-p.exited():
		return p.join()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) joinable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		return ErrNotClosed
	}
	return nil
}

// exited returns a channel closed once every worker goroutine has ended (each after reaping its
// process).
func (p *Pool) exited() <-chan struct{} {
	p.exitOnce.Do(func() {
		p.exitCh = make(chan struct{})
		go func() {
			p.wg.Wait()
			close(p.exitCh)
		}()
	})
	return p.exitCh
}

func (p *Pool) join() error {
	p.wg.Wait()
	p.freeOnce.Do(func() {
		p.mu.Lock()
		errs := append(p.freeErrs, shm.Free(p.state))
		p.mu.Unlock()
		p.freeErr = errors.Join(errs...)
	})
	return p.freeErr
}

// Progress counts a pool's items since it started.
type Progress struct {
	Total   int64 // items submitted
	Done    int64 // items that returned a result
	Failed  int64 // items that ended with an error (their task's, or ErrWorkerDied, ...)
	Retried int64 // items given to another worker after theirs died
	Workers int64 // worker processes started, the first ones included
}

// InFlight is the number of items submitted and not yet ended.
func (g Progress) InFlight() int64 { return g.Total - g.Done - g.Failed }

// Progress returns the pool's counters. Done includes the items the workers have completed in
// the bulk chunks they are running, read from the done words they advance in shared memory, so
// that it moves during a long chunk with no message per item. Each counter is read atomically;
// the set is not a snapshot taken at one instant.
func (p *Pool) Progress() Progress {
	p.mu.Lock()
	g := Progress{Total: p.total.Load(), Done: p.done.Load() + p.bulkRunningLocked(), Failed: p.failed.Load(),
		Retried: p.retried.Load(), Workers: p.started.Load()}
	p.mu.Unlock()
	return g
}
