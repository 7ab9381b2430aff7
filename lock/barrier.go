package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/shm"
)

// Barrier block layout:
//
//	offset size
//	     0    8 internal mutex word (mutex.go), guarding everything below
//	     8    4 state, the futex word: bits 0..29 generation, bit 30 broken
//	    12    4 parties
//	    16    4 arrived: parties waiting in the current generation
//	    20    4 1 + the generation last ended by Reset (its waiters get ErrBroken); 0: none
//	    64 4×parties pids of the waiting parties, in arrival order
const (
	barState   = 8
	barParties = 12
	barCount   = 16
	barResetAt = 20
	barPids    = 64
	barBroken  = 1 << 30
	barGenMask = barBroken - 1
	// MaxParties is the largest number of parties a Barrier accepts.
	MaxParties = 4096
)

var barrierKind shm.Kind

func init() {
	barrierKind = shm.RegisterKind("lock.Barrier", func(r shm.Ref) (any, error) { return OpenBarrier(r) })
}

// A Barrier makes a fixed number of parties (goroutines of any processes) wait until all of them
// have called Wait, then releases them together: Python's multiprocessing.Barrier. It is reusable:
// once released it starts a new generation.
//
// A Barrier breaks, and every waiter's Wait returns ErrBroken, when Abort is called, when a Wait
// times out (as in Python), when the action fails, or when the process of a waiting party dies
// (the waiters record their pids and probe them while they wait). A party that dies before it
// reaches Wait cannot be told from a slow one: bound Wait with a timeout if that can happen. A
// broken Barrier stays broken until Reset.
//
// Memory ordering: what any party wrote before its Wait is visible to every party after its Wait
// returns nil.
type Barrier struct {
	ref      shm.Ref
	m        mutex
	state    *uint32
	count    *uint32
	resetAt  *uint32
	partiesW *uint32
	pids     []*uint32
	seg      *shm.Segment // whose peer table tells a party from a later process with its pid
	parties  uint32
	loc      *local
	action   func() error
}

// NewBarrier allocates a Barrier for parties parties (1..MaxParties) in the default heap, or in
// the heap that In names. action, if not nil, runs in the process of the last party to arrive,
// before any party is released; if it returns an error or panics the Barrier breaks.
func NewBarrier(parties int, action func() error, opts ...Option) (*Barrier, error) {
	if parties < 1 || parties > MaxParties {
		return nil, fmt.Errorf("%w: Barrier of %d parties (want 1..%d)", ErrBadArgs, parties, MaxParties)
	}
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	ref, err := h.Alloc(barPids+4*parties, barrierKind)
	if err != nil {
		return nil, fmt.Errorf("lock: new Barrier: %w", err)
	}
	_, b, err := shm.Resolve(ref, barrierKind)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(shm.Word32(b, barParties), uint32(parties))
	bar, err := OpenBarrier(ref)
	if err != nil {
		return nil, err
	}
	bar.action = action
	return bar, nil
}

// OpenBarrier returns the Barrier that ref names, without an action (see SetAction).
func OpenBarrier(ref shm.Ref) (*Barrier, error) {
	b, err := openBlock(ref, barrierKind, barPids, "Barrier")
	if err != nil {
		return nil, err
	}
	parties := atomic.LoadUint32(shm.Word32(b, barParties))
	if parties < 1 || parties > MaxParties || len(b) < barPids+4*int(parties) {
		return nil, fmt.Errorf("%w: Barrier of %d parties in a %d-byte block", ErrCorrupt, parties, len(b))
	}
	bar := &Barrier{ref: ref, parties: parties, seg: shm.Lookup(ref.Seg),
		m:     newMutex(b, 0, kindBarrier),
		state: shm.Word32(b, barState), count: shm.Word32(b, barCount), resetAt: shm.Word32(b, barResetAt),
		partiesW: shm.Word32(b, barParties)}
	bar.pids = make([]*uint32, parties)
	for i := range bar.pids {
		bar.pids[i] = shm.Word32(b, barPids+4*i)
	}
	bar.loc = localFor(bar.state)
	return bar, nil
}

// SetAction sets the action this process runs when one of its goroutines is the last party to
// arrive; see NewBarrier. Call it before the Barrier is used.
func (b *Barrier) SetAction(action func() error) { b.action = action }

// Parties returns the number of parties the Barrier waits for.
func (b *Barrier) Parties() int { return int(b.parties) }

// NWaiting returns how many parties are waiting in the current generation (a snapshot).
func (b *Barrier) NWaiting() int {
	n := atomic.LoadUint32(b.count)
	if n >= b.parties {
		return 0
	}
	return int(n)
}

// Broken reports whether the Barrier is broken (a snapshot).
func (b *Barrier) Broken() bool { return atomic.LoadUint32(b.state)&barBroken != 0 }

// lock takes the internal mutex. If the process that held it died, the state it guards may be
// half-updated: the Barrier is broken, and lock reports ErrBroken (holding the mutex).
func (b *Barrier) lock() error {
	recovered, err := b.m.Lock(forever)
	if recovered {
		b.breakLocked()
		return fmt.Errorf("%w: %w", ErrBroken, ErrOwnerDead)
	}
	return err
}

func (b *Barrier) unlock() { b.m.Unlock() }

// breakLocked marks the Barrier broken and wakes every waiter; the mutex is held.
func (b *Barrier) breakLocked() {
	atomic.StoreUint32(b.state, atomic.LoadUint32(b.state)|barBroken)
	atomic.StoreUint32(b.count, 0)
	futex.Wake(b.state, 0)
}

// Wait waits until all parties have called Wait, and returns this party's arrival index
// (0..parties-1, the last to arrive gets parties-1). It returns ErrBroken when the Barrier is or
// becomes broken; see WaitTimeout.
func (b *Barrier) Wait() (int, error) { return b.wait(forever) }

// WaitTimeout is Wait bounded by d (0: fail at once unless this is the last party; Forever: no
// bound). When d passes the Barrier breaks (as in Python) and the error matches both ErrTimeout
// and ErrBroken.
func (b *Barrier) WaitTimeout(d time.Duration) (int, error) {
	dl, err := deadlineFor("lock: Barrier.Wait", d)
	if err != nil {
		return 0, err
	}
	return b.wait(dl)
}

// WaitContext is Wait bounded by ctx. When ctx ends first the Barrier breaks, as on a timeout,
// and the error matches both ctx.Err() and ErrBroken.
func (b *Barrier) WaitContext(ctx context.Context) (int, error) {
	return b.wait(contextBound(ctx))
}

func (b *Barrier) wait(dl deadline) (int, error) {
	raceRelease(b.loc)
	i, err := b.arrive(dl)
	if err == nil {
		raceAcquire(b.loc)
	}
	return i, err
}

// arrive records this party, and either releases the generation (the last party) or waits.
func (b *Barrier) arrive(dl deadline) (int, error) {
	if err := b.lock(); err != nil {
		if errors.Is(err, ErrBroken) {
			b.unlock()
		}
		return 0, err
	}
	st := atomic.LoadUint32(b.state)
	if st&barBroken != 0 {
		b.unlock()
		return 0, ErrBroken
	}
	idx := atomic.LoadUint32(b.count)
	if idx >= b.parties || atomic.LoadUint32(b.partiesW) != b.parties {
		b.breakLocked()
		b.unlock()
		return 0, fmt.Errorf("%w: %w: Barrier count %d of %d parties", ErrBroken, ErrCorrupt, idx, b.parties)
	}
	atomic.StoreUint32(b.pids[idx], self)
	if idx+1 < b.parties {
		atomic.StoreUint32(b.count, idx+1)
		b.unlock()
		return int(idx), b.await(st, idx, dl)
	}
	if err := b.runAction(); err != nil {
		b.breakLocked()
		b.unlock()
		return int(idx), fmt.Errorf("%w: action: %w", ErrBroken, err)
	}
	atomic.StoreUint32(b.count, 0)
	for _, p := range b.pids {
		atomic.StoreUint32(p, 0)
	}
	atomic.StoreUint32(b.state, (st+1)&barGenMask)
	b.unlock()
	if _, err := futex.Wake(b.state, 0); err != nil {
		return int(idx), fmt.Errorf("lock: futex wake: %w", err)
	}
	return int(idx), nil
}

func (b *Barrier) runAction() (err error) {
	if b.action == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return b.action()
}

// await sleeps until generation st ends (nil), the Barrier breaks, a waiting party dies, or dl
// passes (which breaks it).
func (b *Barrier) await(st, idx uint32, dl deadline) error {
	gen := st & barGenMask
	var bo backoff
	for {
		cur := atomic.LoadUint32(b.state)
		if cur&barGenMask != gen {
			if atomic.LoadUint32(b.resetAt) == gen+1 {
				return fmt.Errorf("%w: reset while waiting", ErrBroken)
			}
			return nil
		}
		if cur&barBroken != 0 {
			return ErrBroken
		}
		d, err := dl.Left(bo.Next())
		if err != nil {
			return b.breakIf(gen, dl.Err("lock: Barrier.Wait", err))
		}
		err = b.loc.Park(dl.Context(), b.state, cur, d)
		if ended(dl) != nil {
			return b.breakIf(gen, ended(dl))
		}
		if errors.Is(err, ErrTimeout) {
			n := min(atomic.LoadUint32(b.count), b.parties)
			for i := range n {
				if pid := atomic.LoadUint32(b.pids[i]); pid != 0 && (pid > pidMask || !peerAlive(b.seg, pid)) {
					return b.breakIf(gen, fmt.Errorf("party pid %d died", pid))
				}
			}
		} else if err != nil {
			return fmt.Errorf("lock: futex wait: %w", err)
		}
	}
}

// breakIf breaks the Barrier if generation gen is still current and unbroken, and returns the
// outcome for a waiter of that generation: nil if it ended normally meanwhile.
func (b *Barrier) breakIf(gen uint32, why error) error {
	if err := b.lock(); err != nil {
		if errors.Is(err, ErrBroken) {
			b.unlock()
		}
		return err
	}
	defer b.unlock()
	cur := atomic.LoadUint32(b.state)
	switch {
	case cur&barGenMask != gen:
		if atomic.LoadUint32(b.resetAt) == gen+1 {
			return fmt.Errorf("%w: reset while waiting", ErrBroken)
		}
		return nil
	case cur&barBroken == 0:
		b.breakLocked()
	}
	return fmt.Errorf("%w: %w", ErrBroken, why)
}

// Abort breaks the Barrier: every party waiting now, and every later Wait until Reset, gets
// ErrBroken.
func (b *Barrier) Abort() error {
	if err := b.lock(); err != nil && !errors.Is(err, ErrBroken) {
		return err
	}
	b.breakLocked()
	b.unlock()
	return nil
}

// Reset returns the Barrier to its initial, unbroken state; parties waiting at the time get
// ErrBroken.
func (b *Barrier) Reset() error {
	if err := b.lock(); err != nil && !errors.Is(err, ErrBroken) {
		return err
	}
	st := atomic.LoadUint32(b.state)
	atomic.StoreUint32(b.resetAt, st&barGenMask+1)
	atomic.StoreUint32(b.count, 0)
	for _, p := range b.pids {
		atomic.StoreUint32(p, 0)
	}
	atomic.StoreUint32(b.state, (st+1)&barGenMask)
	b.unlock()
	_, err := futex.Wake(b.state, 0)
	return err
}

// Ref returns the Barrier's Ref.
func (b *Barrier) Ref() shm.Ref { return b.ref }

// Free returns the Barrier's memory to its heap; see Lock.Free.
func (b *Barrier) Free() error { return shm.Free(b.ref) }
