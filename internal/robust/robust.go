// Package robust is shmkit's robust process-shared mutex: the one implementation of the mutex
// word that lock's Lock, RecursiveLock, RWLock (writer side) and Barrier, and ring's producer and
// consumer locks, all use; with the per-process companions every shared word needs (Local: the
// Gate and turnstile through which this process's goroutines wait, the adaptive spin), the park
// slices (Backoff) and the per-process registry of those companions (Registry).
//
// # The mutex word
//
// A mutex is one 64-bit word in shared memory, 8-aligned, little-endian; its low half is the
// futex word waiters sleep on:
//
//	bits  0..21  owner pid (0: free)
//	bit   22     waiters: some process may be parked on the word (set by waiters, cleared by
//	             the release, which then wakes one)
//	bit   23     recovered: the owner took the mutex over from a process that died holding it
//	             (set by the takeover, cleared by the release)
//	non-recursive kinds:
//	bits 24..63  the low 40 bits of the owner's start time (pids.StartTime: clock ticks since
//	             boot; 40 bits at 100 Hz span 349 years of uptime, so nothing is lost)
//	recursive kinds:
//	bits 24..39  the low 16 bits of the owner's start time (a reused pid whose start falls on
//	             the same tick modulo 2^16 ticks, 11 minutes, is taken for the owner: about one
//	             reuse in 65,536)
//	bits 40..63  the recursion count (>= 1 while held; at most 2^24-1 levels)
//
// A start time of 0 means "not recorded" (a process that could not read /proc, or a peer that
// does not record it): the owner is then judged by its pid alone. Free is exactly 0. Every other
// state with pid 0, a held recursive word with count 0, is impossible: the word is corrupt, and
// every operation reports it as an error wrapping Kind.Corrupt. No operation panics or hangs on a
// corrupt word, whatever it holds (FuzzWord). This layout came with shm's segment layout version
// 3; before it, bits 24..31 were 0 and the count filled bits 32..63.
//
// The owner's pid and start time are this process's, read once when the package initialises:
// the fast paths compare and swap a constant, and /proc is read only on the slow path, when an
// owner looks dead.
//
// # The hold stamp
//
// A mutex may have a second word, its hold stamp, where the layout that embeds the word has room
// for one (lock's Lock, RecursiveLock and RWLock do; see SetStamp). It says since when, at
// least, the current owner has held the mutex, for inspectors (shmkit ls): how long a holder has
// held is what tells a stuck process from a busy one. Reading a clock costs ~70 ns on this
// project's VMs (kvm-clock), as much as four uncontended Lock/Unlock pairs, so the fast paths
// never touch the stamp; the slow paths, which have already spun or parked, write it:
//
//	bits  0..21  a pid (0: no stamp)
//	bits 22..63  Unix milliseconds (42 bits: until the year 2109)
//
// It is written by:
//
//   - an acquisition after parking, and every takeover, stamps the new owner and the time: exact;
//   - a waiter about to park on a word held by pid P (the word has the waiters bit, which it or
//     another waiter set), when the stamp does not name P, stamps P with the time (P has held it
//     since at least then), then re-reads the word and removes its stamp if the word changed;
//   - a release of a word with the waiters bit (the slow release) removes a stamp that names
//     this process. Every stamped hold is released that way: an acquisition after a park or a
//     takeover sets the waiters bit, and a waiter's stamp stays only while the word it saw, with
//     the bit, is unchanged. The fast paths never see a stamp.
//
// The release changes the word before it reads the stamp, and the waiter stores the stamp before
// it re-reads the word, all sequentially consistent: at least one of them sees the other's store,
// so a stamp never outlives the hold it describes, except by the instants in which the same pid
// releases and takes the mutex again, after a wait of its own, while a waiter stamps it (the
// stamp is then too early by those instants, and that hold's release removes it). A stamp that
// names the current owner is therefore a lower bound of its hold, exact when the owner got the
// mutex after a wait; a hold that nobody has waited for has no stamp. Peers that do not stamp (older code,
// another language) leave the stamp absent, never wrong.
//
// # Memory ordering
//
// The word is only accessed with sequentially consistent atomics: everything a process wrote
// before a release is visible to the process whose acquisition returns next.
//
// # A dead owner
//
// A waiter parks in slices (Backoff: 1 ms doubling to 100 ms) and after each one checks the
// owner's pid and start time (Dead); when the owner has died it takes the mutex over, keeps the waiters bit (so
// its release wakes the others) and sets the recovered bit: the acquisition returns
// recovered == true, and Recovered reports it until the release. What the dead owner was doing
// under the mutex was cut short at any point; the caller decides what that means (lock reports
// it through Recovered and breaks a Barrier; ring's protocol tolerates it). See pids.Alive for
// the limits of pid probing: a reused pid counts as alive, and all processes must share a pid
// namespace.
package robust

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/internal/pids"
)

// The layout of the mutex word (see the package documentation).
const (
	PidBits   = 22                 // Linux never hands out a pid at or above 1<<22 (PID_MAX_LIMIT)
	PidMask   = 1<<PidBits - 1     // the owner pid's bits
	Waiters   = 1 << PidBits       // some process may be parked on the word
	Recovered = 1 << (PidBits + 1) // the owner took the mutex over from a dead one

	// StartShift is where the owner's start time (its low bits) begins in the word.
	StartShift = 24
	// CountShift is where a recursive word's recursion count begins.
	CountShift = StartShift + recStart

	startShift = StartShift
	plainStart = 40 // bits of start time in a non-recursive word
	recStart   = 16 // bits of start time in a recursive word
	countShift = CountShift
	one        = 1 << countShift // one level of recursion
	maxCount   = 1<<(64-countShift) - 1
)

// Self is this process's pid, read once: Go programs do not fork without exec.
var Self = uint32(os.Getpid())

// startBits returns how many bits of the owner's start time a word of kind k holds.
func (k *Kind) startBits() uint {
	if k.Recursive {
		return recStart
	}
	return plainStart
}

// startOf returns the start-time field of word v of kind k.
func (k *Kind) startOf(v uint64) uint64 { return v >> startShift & (1<<k.startBits() - 1) }

func init() {
	if Self > PidMask {
		// Cannot happen on Linux (PID_MAX_LIMIT); refuse loudly rather than store a truncated pid.
		panic("shmkit: process id " + strconv.Itoa(int(Self)) + " does not fit in 22 bits")
	}
}

// Alive reports whether process pid exists and has not exited; this process is always alive.
// A zombie counts as dead (it will never touch shared memory again). It knows the pid alone, so a
// reused pid counts as alive: the mutex itself checks its owner's start time too (see Mutex.OwnerDead),
// and tables of pids check theirs through shm.Segment.PeerAlive. All processes must share a pid
// namespace. It makes a system call: only slow paths call it.
func Alive(pid uint32) bool { return pid == Self || pids.Alive(int(pid)) }

// A Kind is what differs between the users of the mutex word; it is fixed per kind of object
// and shared by every Mutex of that kind.
type Kind struct {
	// What names the object in error messages ("Lock", "ring: producer lock").
	What string
	// Recursive: the process holding the mutex may take it again, and the word counts the
	// levels (bits 32..63; lock's RecursiveLock).
	Recursive bool
	// OwnSelf: the caller lets one goroutine of this process at a time near the word (ring's
	// local mutex in front of its shared locks), so a word naming this process is left over (a
	// dead process whose pid this process reuses, or a scribble): take it over, as from a dead
	// owner. Without it, a word naming this process is held by another of its goroutines, and
	// the caller waits (lock's Lock, whose owner is a process, not a goroutine).
	OwnSelf bool
	// Corrupt is the sentinel that errors about an impossible word wrap (the caller's package's
	// ErrCorrupt, which wraps shm.ErrCorrupt).
	Corrupt error
	// NotOwner is the sentinel that an Unlock by a process that does not hold the mutex wraps;
	// nil: Corrupt (for a caller whose protocol makes that impossible).
	NotOwner error
	// Overflow is the sentinel that a recursion count overflow wraps (Recursive only).
	Overflow error
}

// A Mutex is this process's handle on one mutex word: the word, this process's Local for it
// and the Kind. It is a small value; copies share the word and the Local.
type Mutex struct {
	w    *uint64
	lo   *uint32 // the low half of *w: the futex word
	st   *uint64 // the hold stamp (nil: the layout has none)
	loc  *Local
	once uint64 // the word while this process holds the mutex once (no other bit)
	kind *Kind
}

// SetStamp gives the mutex its hold stamp word at st (8-aligned, in shared memory, 0 when the
// mutex is first made); see the package documentation. Every handle on the word in every process
// should be given the same st; one that is not only stamps less.
func (m *Mutex) SetStamp(st *uint64) { m.st = st }

// stampShift is where the time begins in a hold stamp.
const stampShift = PidBits

// stamp returns the hold stamp of pid now.
func stamp(pid uint32) uint64 { return uint64(pid) | uint64(time.Now().UnixMilli())<<stampShift }

// stampMine records that this process holds the mutex from now (after a wait or a takeover).
func (m *Mutex) stampMine() {
	if m.st != nil {
		atomic.StoreUint64(m.st, stamp(Self))
	}
}

// stampHeld records, before a park, that the owner of word v (which has the waiters bit) has held
// it since at least now, unless the stamp already names that owner.
func (m *Mutex) stampHeld(v uint64) {
	if m.st == nil {
		return
	}
	owner := uint32(v) & PidMask
	old := atomic.LoadUint64(m.st)
	if uint32(old)&PidMask == owner {
		return
	}
	s := stamp(owner)
	if !atomic.CompareAndSwapUint64(m.st, old, s) {
		return // another stamp landed: an acquirer's, or another waiter's
	}
	if atomic.LoadUint64(m.w) != v {
		// Changed meanwhile: perhaps released, perhaps released and taken again by a fast path
		// without the waiters bit, whose fast release would not look at the stamp. Remove it.
		atomic.CompareAndSwapUint64(m.st, s, 0)
	}
}

// unstamp removes a stamp naming this process, after a release.
func (m *Mutex) unstamp() {
	if m.st == nil {
		return
	}
	if old := atomic.LoadUint64(m.st); old != 0 && uint32(old)&PidMask == Self {
		atomic.CompareAndSwapUint64(m.st, old, 0)
	}
}

// HoldStamp returns the mutex's hold stamp, taken apart (zero without a stamp word or a stamp).
func (m *Mutex) HoldStamp() Stamp {
	if m.st == nil {
		return Stamp{}
	}
	return DecodeStamp(atomic.LoadUint64(m.st))
}

// A Stamp is a hold stamp taken apart (see the package documentation).
type Stamp struct {
	Pid   uint32    // who held the mutex (0: no stamp)
	Since time.Time // since when, at least
}

// DecodeStamp takes apart the hold stamp v. It reads only v.
func DecodeStamp(v uint64) Stamp {
	if v == 0 {
		return Stamp{}
	}
	return Stamp{Pid: uint32(v) & PidMask, Since: time.UnixMilli(int64(v >> stampShift))}
}

// New returns the handle of the mutex word at w (8-aligned, in shared memory), whose Local in
// this process is loc (see Registry).
func New(w *uint64, loc *Local, k *Kind) Mutex {
	m := Mutex{w: w, lo: (*uint32)(unsafe.Pointer(w)), loc: loc, kind: k}
	m.once = uint64(Self) | (pids.SelfStart()&(1<<k.startBits()-1))<<startShift
	if k.Recursive {
		m.once |= one
	}
	return m
}

// Word returns the mutex word's address.
func (m *Mutex) Word() *uint64 { return m.w }

// Local returns the handle's Local.
func (m *Mutex) Local() *Local { return m.loc }

// Fast takes the mutex if it is free, with one compare-and-swap, and reports whether it did: the
// fast path that callers inline before Lock.
func (m *Mutex) Fast() bool {
	if atomic.CompareAndSwapUint64(m.w, 0, m.once) {
		m.loc.RaceAcquire()
		return true
	}
	return false
}

// LockForever acquires the mutex without bound: Fast, then Lock. It returns an error only without
// the mutex (a corrupt word, a recursion overflow); a takeover is a success, which the word
// records (see Recovered). The fast path inlines into the caller.
func (m *Mutex) LockForever() error {
	if atomic.CompareAndSwapUint64(m.w, 0, m.once) {
		m.loc.RaceAcquire()
		return nil
	}
	return m.lockForever()
}

//go:noinline
func (m *Mutex) lockForever() error {
	_, err := m.Lock(deadline.D{})
	return err
}

// Check returns nil for a possible word and an error wrapping Kind.Corrupt for an impossible one.
func (m *Mutex) Check(v uint64) error {
	pid := uint32(v) & PidMask
	k := m.kind
	switch {
	case pid == 0 && v != 0,
		k.Recursive && pid != 0 && v>>countShift == 0:
		return fmt.Errorf("%w: %s word %#x", k.Corrupt, k.What, v)
	}
	return nil
}

// mine reports whether word v names this process: its pid and its start time.
func (m *Mutex) mine(v uint64) bool {
	return uint32(v)&PidMask == Self && m.kind.startOf(v) == m.kind.startOf(m.once)
}

// dead reports whether the owner that word v names (not free) is dead: a process that is not this
// one and holds the pid of this one (so the owner was an earlier process that had it), or whose
// pid no live process with that start time holds. It reads /proc: slow paths only.
func (m *Mutex) dead(v uint64) bool {
	pid := uint32(v) & PidMask
	if pid == Self {
		return !m.mine(v)
	}
	return !pids.AliveSinceMasked(int(pid), m.kind.startOf(v), m.kind.startBits())
}

// OwnerDead reports whether the mutex is held by a process that has died (see the package
// documentation: pid and start time); false when it is free or held by a live process. It reads
// /proc: slow paths only.
func (m *Mutex) OwnerDead() bool {
	v := atomic.LoadUint64(m.w)
	return v != 0 && m.Check(v) == nil && m.dead(v)
}

// reentrant reports whether a word naming this process is for this caller to take: a recursive
// mutex's next level, or a leftover (OwnSelf).
func (m *Mutex) reentrant() bool { return m.kind.Recursive || m.kind.OwnSelf }

// Try makes one attempt, never blocking: take a free word, re-enter a recursive mutex this
// process holds, take a word naming this process over (OwnSelf), or take over from an owner that
// died (only when checkDead: it costs a system call). ok reports success, and recovered that
// the mutex was taken over (the word records it: see Recovered). err (without ok) is a corrupt
// word or a recursion overflow.
func (m *Mutex) Try(checkDead bool) (ok, recovered bool, err error) {
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.Check(v); err != nil {
			return false, false, err
		}
		owner := uint32(v) & PidMask
		switch {
		case owner == 0:
			if atomic.CompareAndSwapUint64(m.w, 0, m.once) {
				m.loc.RaceAcquire()
				return true, false, nil
			}
			continue
		case m.kind.Recursive && m.mine(v):
			if v>>countShift == maxCount {
				return false, false, fmt.Errorf("%w: %s recursion count overflow", m.kind.Overflow, m.kind.What)
			}
			if atomic.CompareAndSwapUint64(m.w, v, v+one) {
				m.loc.RaceAcquire()
				return true, false, nil
			}
			continue
		case owner == Self && (m.kind.OwnSelf || !m.mine(v)),
			checkDead && owner != Self && m.dead(v):
			// Keep the waiters bit: others may be parked, and our release must wake them.
			if atomic.CompareAndSwapUint64(m.w, v, m.once|Waiters|Recovered) {
				m.loc.RaceAcquire()
				return true, true, nil
			}
			continue
		}
		return false, false, nil
	}
}

// Lock acquires the mutex within dl: it tries, spins (Local.Spin), then takes this process's
// turnstile and parks on the word in slices, checking after each whether the owner still lives,
// and takes the mutex over from an owner that died. A try (dl already passed) never parks but
// does take over from a dead owner. recovered reports a takeover. It returns, without the mutex,
// the bare deadline.ErrTimeout or the context's error when dl ends first, and a corruption or
// overflow error (see Check and Try).
func (m *Mutex) Lock(dl deadline.D) (recovered bool, err error) {
	// The first attempt does not ask whether a holder is dead: that reads /proc (an open, a read
	// and a close, 10-20 µs here), which every contended Lock would pay. A wait checks after its
	// first slice (1 ms); a try, which does not wait, checks now.
	if ok, rec, err := m.Try(false); ok || err != nil {
		return rec, err
	}
	if _, err := dl.Left(deadline.Forever); err != nil {
		if ok, rec, terr := m.Try(true); ok || terr != nil {
			if rec {
				m.stampMine()
			}
			return rec, terr
		}
		return false, err
	}
	if m.loc.Spin(func() bool {
		v := atomic.LoadUint64(m.w)
		if v != 0 && (!m.mine(v) || !m.reentrant()) {
			return false
		}
		var ok bool
		ok, recovered, err = m.Try(false)
		return ok || err != nil
	}) {
		return recovered, err
	}
	if err := m.loc.Enter(dl); err != nil {
		return false, err
	}
	defer m.loc.Leave()
	var b Backoff
	parked := false
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.Check(v); err != nil {
			return false, err
		}
		owner := uint32(v) & PidMask
		if owner == 0 {
			// Whoever takes it after a wait sets the waiters bit: other processes may be parked
			// (and its release, the slow one, removes its stamp).
			if atomic.CompareAndSwapUint64(m.w, 0, m.once|Waiters) {
				m.loc.RaceAcquire()
				if parked {
					m.stampMine()
				}
				return false, nil
			}
			continue
		}
		if owner == Self && (m.reentrant() || !m.mine(v)) {
			if ok, rec, err := m.Try(false); ok || err != nil {
				return rec, err
			}
			continue
		}
		if v&Waiters == 0 {
			if !atomic.CompareAndSwapUint64(m.w, v, v|Waiters) {
				continue
			}
			v |= Waiters
		}
		if !parked {
			m.stampHeld(v)
			parked = true
		}
		sliceEnded, err := m.loc.Slice(dl, &b, m.lo, uint32(v))
		if err != nil {
			return false, err
		}
		if sliceEnded && m.dead(v) {
			if ok, rec, err := m.Try(true); ok || err != nil {
				if ok {
					m.stampMine()
				}
				return rec, err
			}
		}
	}
}

// ended returns the error of dl's context when it has ended, nil otherwise.
func ended(dl deadline.D) error {
	if ctx := dl.Context(); ctx != nil {
		return ctx.Err()
	}
	return nil
}

// Unlock releases one hold (one level of a recursive mutex), waking one parked process when the
// word had the waiters bit. Only the owning process may release: otherwise it returns an error
// wrapping Kind.NotOwner and leaves the word alone. The fast path (held once, nobody parked) is
// one compare-and-swap and inlines.
func (m *Mutex) Unlock() error {
	m.loc.RaceRelease()
	if atomic.CompareAndSwapUint64(m.w, m.once, 0) {
		return nil
	}
	return m.unlockSlow()
}

func (m *Mutex) unlockSlow() error {
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.Check(v); err != nil {
			return err
		}
		if !m.mine(v) {
			return m.notOwner(uint32(v) & PidMask)
		}
		var nv uint64
		if m.kind.Recursive && v>>countShift > 1 {
			nv = v - one
		}
		if atomic.CompareAndSwapUint64(m.w, v, nv) {
			if nv == 0 {
				m.unstamp()
			}
			if nv == 0 && v&Waiters != 0 {
				if _, err := futex.Wake(m.lo, 1); err != nil {
					return fmt.Errorf("%s: futex wake: %w", m.kind.What, err)
				}
			}
			return nil
		}
	}
}

func (m *Mutex) notOwner(owner uint32) error {
	sentinel := m.kind.NotOwner
	if sentinel == nil {
		sentinel = m.kind.Corrupt
	}
	if owner == 0 {
		return fmt.Errorf("%w: %s is not locked", sentinel, m.kind.What)
	}
	return fmt.Errorf("%w: %s is held by pid %d", sentinel, m.kind.What, owner)
}

// UnlockAll releases every level this process holds (a Condition's Wait) and returns how many
// there were. The mutex is released even when the wake-up fails: a waiter that missed it wakes at
// the end of its slice.
func (m *Mutex) UnlockAll() (depth uint32, err error) {
	m.loc.RaceRelease()
	for {
		v := atomic.LoadUint64(m.w)
		if err := m.Check(v); err != nil {
			return 0, err
		}
		if !m.mine(v) {
			return 0, m.notOwner(uint32(v) & PidMask)
		}
		depth = 1
		if m.kind.Recursive {
			depth = uint32(v >> countShift)
		}
		if atomic.CompareAndSwapUint64(m.w, v, 0) {
			m.unstamp()
			if v&Waiters != 0 {
				futex.Wake(m.lo, 1)
			}
			return depth, nil
		}
	}
}

// Relock takes the mutex again after UnlockAll, without bound, and restores depth levels. It
// fails, without the mutex, only with a corruption error; recovered reports a takeover.
func (m *Mutex) Relock(depth uint32) (recovered bool, err error) {
	if !m.Fast() {
		if recovered, err = m.Lock(deadline.D{}); err != nil {
			return false, err
		}
	}
	if m.kind.Recursive && depth > 1 {
		atomic.AddUint64(m.w, uint64(depth-1)<<countShift)
	}
	return recovered, nil
}

// Owner returns the pid recorded in the word (0: free), a snapshot.
func (m *Mutex) Owner() uint32 { return uint32(atomic.LoadUint64(m.w)) & PidMask }

// Recovered reports whether this process holds the mutex and took it over from a dead owner.
func (m *Mutex) Recovered() bool {
	v := atomic.LoadUint64(m.w)
	return m.mine(v) && v&Recovered != 0
}

// Mine reports whether this process holds the mutex (the word names its pid and start time).
func (m *Mutex) Mine() bool { return m.mine(atomic.LoadUint64(m.w)) }

// Depth returns how many levels this process holds: 0 when it does not hold the mutex, 1 for a
// non-recursive kind it holds.
func (m *Mutex) Depth() int {
	v := atomic.LoadUint64(m.w)
	switch {
	case !m.mine(v):
		return 0
	case m.kind.Recursive:
		return int(v >> countShift)
	}
	return 1
}

// OwnerStart returns the start-time field of the word (the owner's start time, or its low bits
// in a recursive word; 0: free or not recorded), a snapshot, and how many bits the field holds.
func (m *Mutex) OwnerStart() (start uint64, bits uint) {
	return m.kind.startOf(atomic.LoadUint64(m.w)), m.kind.startBits()
}

// Recursive reports whether the mutex is of a recursive Kind.
func (m *Mutex) Recursive() bool { return m.kind.Recursive }

// A Word is a mutex word taken apart, for inspectors (shmkit ls) that read it from outside.
type Word struct {
	Pid       uint32 `json:"pid"`   // the owner (0: free)
	Start     uint64 `json:"start"` // the owner's start time, or its low StartBits bits (0: not recorded)
	StartBits uint   `json:"-"`
	Waiters   bool   `json:"waiters"`   // some process may be parked on it
	Recovered bool   `json:"recovered"` // the owner took it over from a dead one
	Count     uint32 `json:"count,omitempty"`
}

// Decode takes apart the word v of a mutex of a recursive kind or not; an impossible word is
// an error (see Mutex.Check). It reads only v.
func Decode(v uint64, recursive bool) (Word, error) {
	k := &Kind{What: "mutex", Recursive: recursive, Corrupt: errCorrupt}
	if err := (&Mutex{kind: k}).Check(v); err != nil {
		return Word{}, err
	}
	w := Word{Pid: uint32(v) & PidMask, Start: k.startOf(v), StartBits: k.startBits(),
		Waiters: v&Waiters != 0, Recovered: v&Recovered != 0}
	if recursive {
		w.Count = uint32(v >> countShift)
	}
	return w, nil
}

// OwnerAlive reports whether the owner of w lives (its pid and start time; see pids): false for
// a free word. It reads /proc.
func (w Word) OwnerAlive() bool {
	return w.Pid != 0 && pids.AliveSinceMasked(int(w.Pid), w.Start, w.StartBits)
}

var errCorrupt = fmt.Errorf("robust: corrupt mutex word")
