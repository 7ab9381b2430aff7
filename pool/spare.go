package pool

import (
	"errors"
	"fmt"
)

// The warm spare. A replacement worker is a cold process start (~5-7 ms here, most of it the Go
// runtime and the binary's initialization), during which its slot does no work. After the first
// worker ends (a death, a retirement after MaxTasksPerChild or MaxMemoryPerChild), the pool keeps
// one spare: a worker process started, initialized and ready, outside the slots. The next worker
// that ends is replaced by the spare at once, and a new spare is started in the background. A
// pool whose workers never end never starts one.
//
// The state block has one line more than the pool has slots: every process owns one line for its
// life (the spare needs its running and done words before it has a slot), and the line of a
// worker that ended goes to the next process started. Progress().Workers counts processes put to
// work in a slot: a spare counts when it takes one.

// noSpare, set by a benchmark, makes the pools made afterwards start no spare: the cold
// replacement it is measured against.
var noSpare bool

// replaceLocked gives the slot of w, which has ended, to the spare if one is ready, and otherwise
// to a new process; either way a spare is started for the next time.
func (p *Pool) replaceLocked(w *workerState) {
	if sp := p.spare; sp != nil && sp.ready && !sp.stopping {
		p.spare = nil
		sp.slot = w.slot
		p.workers[w.slot] = sp
		p.started.Add(1)
		p.startSpareLocked(w.line)
		return
	}
	p.wg.Add(1)
	go p.startWorker(w.slot, w.line)
	if p.spareLine >= 0 {
		p.startSpareLocked(p.spareLine)
	}
}

// startSpareLocked starts a spare on line, unless the pool is closed (its workers will not be
// replaced for long) or spares keep dying before they are ready.
func (p *Pool) startSpareLocked(line int) {
	p.spareLine = line
	if p.closed || p.spareFails >= maxPreReady || p.noSpare {
		return
	}
	p.spareLine = -1
	p.wg.Add(1)
	go p.startWorker(-1, line)
}

// startedSpare takes the spare that startWorker started on line (or failed to), and serves it.
func (p *Pool) startedSpare(line int, w *workerState, err error) {
	p.mu.Lock()
	if err != nil {
		p.spareFails++
		p.spareLine = line
		p.mu.Unlock()
		p.wg.Done()
		return
	}
	p.spare = w
	if p.terminated {
		w.p.Kill()
	}
	p.mu.Unlock()
	p.serve(w)
}

// spareExitedLocked settles the end of the spare w (stopped at Close, killed, or failed before it
// was ready): nothing was given to it; another is started unless the pool is ending.
func (p *Pool) spareExitedLocked(w *workerState) {
	if p.spare == w {
		p.spare = nil
	}
	if !w.ready {
		p.spareFails++
	}
	p.spareLine = w.line
	if !p.closed && !p.terminated && p.broken == nil {
		p.startSpareLocked(w.line)
	}
}

// freeRings frees the rings of w, which has exited.
func (p *Pool) freeRings(w *workerState) {
	if err := errors.Join(w.tasks.Free(), w.results.Free()); err != nil {
		p.mu.Lock()
		p.freeErrs = append(p.freeErrs, fmt.Errorf("pool: free the rings of worker pid %d: %w", w.pid, err))
		p.mu.Unlock()
	}
}
