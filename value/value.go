package value

import (
	"bytes"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// A Value is one T in shared memory with a lock: Python's multiprocessing.Value (lock=True). It
// reaches child processes as a Ref (pass it to proc.Start, or OpenValue its Ref); a named one
// (NewNamedValue) is opened by name by any process.
//
// T must be pointer-free: numbers, bools, complex numbers, arrays and structs of those.
//
// Every operation is atomic with respect to every other, in every process, and no read ever sees
// a torn value:
//
//   - T of at most 8 bytes lives in one aligned 64-bit word: Load, Store, Swap and
//     CompareAndSwap (and Add, for integers) are each one atomic instruction, without the lock.
//   - A larger T is double-buffered: two slots and a generation word saying which is current.
//     Store, Swap and CompareAndSwap hold an internal write lock and write the other slot before
//     switching the generation; Load takes no lock at all and retries if a switch overlapped its
//     copy. A writer killed mid-write leaves the current slot whole, so a Value never shows a
//     half-written T, even after a crash.
//
// The lock (Locker, held by Update) is the user's, as in Python: it is not taken by Load, Store,
// Swap or CompareAndSwap, so a program may hold it around several of them (Python's
// "with v.get_lock(): v.value += 1" is l.Lock(); v.Store(v.Load()+1); l.Unlock()).
//
// Memory ordering: each operation is sequentially consistent with the others (sync/atomic
// semantics, across processes: the words live in pages every process maps). A Store that returns
// happens before every Load that returns its value.
//
// Methods are safe for concurrent use by any number of goroutines and processes. The write
// methods return an error only for a T of more than 8 bytes, and only when the internal write
// lock's shared word is corrupt (lock.ErrCorrupt); for smaller T it is always nil.
type Value[T any] struct {
	blk *block
}

// NewValue allocates a Value holding init, with its lock, in the process's default heap
// (inherited by children started afterwards), or in the heap In names. It fails with ErrType for
// a T that holds pointers.
func NewValue[T any](init T, opts ...Option) (*Value[T], error) {
	blk, err := newValueBlock(opts, infoOf[T]().code, true, init)
	if err != nil {
		return nil, err
	}
	return &Value[T]{blk: blk}, nil
}

// newValueBlock allocates the block of a Value (locked) or a RawValue in the heap opts name,
// recording code (the callers have checked it against T), and stores init in it.
func newValueBlock[T any](opts []Option, code byte, locked bool, init T) (*block, error) {
	ti := infoOf[T]()
	kind, what := ti.kinds.raw, "RawValue"
	if locked {
		kind, what = ti.kinds.value, "Value"
	}
	h, err := heapFor(opts)
	if err != nil {
		return nil, err
	}
	blk, err := newBlock(h, ti, kind, formValue, code, 1, locked, initValue(init))
	if err != nil {
		return nil, fmt.Errorf("value: new %s[%v]: %w", what, ti.t, err)
	}
	return blk, nil
}

// NewValueCode is NewValue with a Python typecode ('d' for float64, see Typecode): Python's
// Value('d', 0.0). It fails with ErrMismatch when code does not describe T; the code is recorded
// in the header.
func NewValueCode[T any](code byte, init T, opts ...Option) (*Value[T], error) {
	if err := CheckTypecode[T](code); err != nil {
		return nil, err
	}
	blk, err := newValueBlock(opts, code, true, init)
	if err != nil {
		return nil, err
	}
	return &Value[T]{blk: blk}, nil
}

// OpenValue returns the Value that ref names, in this or any process that maps its segment. The
// header is validated first: a Ref of another kind, or a header that does not fit its block,
// gives an error, never a crash.
func OpenValue[T any](ref shm.Ref) (*Value[T], error) {
	ti := infoOf[T]()
	blk, err := openBlock(ref, ti, ti.kinds.value, formValue, true)
	if err != nil {
		return nil, err
	}
	return &Value[T]{blk: blk}, nil
}

func initValue[T any](init T) func(*block) {
	return func(blk *block) {
		switch {
		case blk.w64 != nil:
			atomic.StoreUint64(blk.w64, toWord(init)&blk.ti.mask)
		default:
			writeSlot(blk, 0, init)
		}
	}
}

// Load returns the value. It never blocks on a lock and never returns a torn value. Bytes of T
// that are bools read as true for any non-zero byte a peer may have written.
func (v *Value[T]) Load() T { return load[T](v.blk) }

// Store sets the value.
func (v *Value[T]) Store(x T) error {
	if v.blk.w64 != nil {
		atomic.StoreUint64(v.blk.w64, toWord(x)&v.blk.ti.mask)
		return nil
	}
	_, err := v.write(func(g uint64) (bool, error) {
		writeSlot(v.blk, g+1, x)
		return true, nil
	})
	return err
}

// Swap sets the value to x and returns the value it replaced.
func (v *Value[T]) Swap(x T) (old T, err error) {
	if v.blk.w64 != nil {
		return swapWord(v.blk, x), nil
	}
	_, err = v.write(func(g uint64) (bool, error) {
		old = readSlot[T](v.blk, g)
		writeSlot(v.blk, g+1, x)
		return true, nil
	})
	return old, err
}

// CompareAndSwap sets the value to new if it equals old, and reports whether it did. Values are
// compared as memory, padding excluded: floats compare by bits (a NaN equals the same NaN, and
// -0.0 differs from +0.0), as sync/atomic does.
func (v *Value[T]) CompareAndSwap(old, new T) (swapped bool, err error) {
	if v.blk.w64 != nil {
		return casWord(v.blk, old, new), nil
	}
	want := canonBytes(v.blk.ti, old)
	return v.write(func(g uint64) (bool, error) {
		cur := readSlot[T](v.blk, g)
		if !bytes.Equal(bytesOf(&cur), want) {
			return false, nil
		}
		writeSlot(v.blk, g+1, new)
		return true, nil
	})
}

// write runs w under the write lock of a double-buffered Value with the current generation g; if
// w wrote slot g+1 (reports true), the generation moves to g+1, publishing it.
func (v *Value[T]) write(w func(g uint64) (bool, error)) (bool, error) {
	blk := v.blk
	// A writer that died holding the write lock was writing the slot that is not current: the
	// current one is whole, so lock.ErrOwnerDead needs no repair here.
	if _, err := lockHeld(blk.wl); err != nil {
		return false, fmt.Errorf("value: write lock: %w", err)
	}
	g := atomic.LoadUint64(blk.gen)
	ok, err := w(g)
	if ok {
		atomic.StoreUint64(blk.gen, g+1)
	}
	if uerr := blk.wl.Unlock(); uerr != nil && err == nil {
		err = fmt.Errorf("value: write lock: %w", uerr)
	}
	return ok, err
}

// Update calls fn with a copy of the value while holding the Value's lock, then stores what fn
// left in it. It is atomic with respect to every other operation on the Value: should a Store,
// Swap, CompareAndSwap or Add (which do not take the lock) change the value between the copy and
// the store, fn is called again with the new value, so fn must only compute from its argument.
// fn must not call Update or take the lock (Locker), and Update must not be called by a process
// holding it: the lock is not re-entrant, that would deadlock. The other methods are allowed in fn.
//
// If a process died holding the lock, Update takes it over, still applies fn to the last whole
// value, and returns an error wrapping lock.ErrOwnerDead, so that state the program guards with
// the lock (Locker) beyond this Value can be checked. It fails without calling fn only when the lock's
// shared word is corrupt.
func (v *Value[T]) Update(fn func(*T)) error {
	blk := v.blk
	dead, err := lockHeld(blk.lk)
	if err != nil {
		return fmt.Errorf("value: Update: %w", err)
	}
	err = v.update(fn)
	if uerr := blk.lk.Unlock(); uerr != nil && err == nil {
		err = fmt.Errorf("value: Update: unlock: %w", uerr)
	}
	if err == nil && dead != nil {
		err = fmt.Errorf("value: Update: %w", dead)
	}
	return err
}

func (v *Value[T]) update(fn func(*T)) error {
	blk := v.blk
	if blk.w64 != nil {
		for {
			old := atomic.LoadUint64(blk.w64)
			x := fromWord[T](blk.ti.fixWord(old))
			fn(&x)
			if atomic.CompareAndSwapUint64(blk.w64, old, toWord(x)&blk.ti.mask) {
				return nil
			}
		}
	}
	for {
		x, g := loadDouble[T](blk)
		fn(&x)
		done, err := v.write(func(now uint64) (bool, error) {
			if now != g {
				return false, nil // a Store got in between: run fn again on its value
			}
			writeSlot(blk, g+1, x)
			return true, nil
		})
		if done || err != nil {
			return err
		}
	}
}

// Locker returns the Value's lock, Python's get_lock() (named without Get, as Go names
// accessors). Holding it excludes Update and every other holder; it does not stop Load, Store,
// Swap, CompareAndSwap or Add. Its Do method holds it around a function, always releases it, and
// tells the function whether a previous holder died (see package lock).
func (v *Value[T]) Locker() *lock.Lock { return v.blk.lk }

// Ref returns the Value's Ref, by which another process opens it (package proc passes it to
// children).
func (v *Value[T]) Ref() shm.Ref { return v.blk.ref }

// Free returns the Value's memory and its lock's to their heap. Call it once, when no process
// uses the Value any more; using it afterwards, here or in another process, is undefined (the
// memory may hold another object). For a named Value, Free is Close.
func (v *Value[T]) Free() error { return v.blk.release() }

// Close releases this process's handle on a named Value: the last handle of the process unmaps
// the segment, and the creator's unlinks its name. For a Value in a heap it does nothing.
func (v *Value[T]) Close() error { return v.blk.closeNamed() }

// A RawValue is one T in shared memory without a lock: Python's multiprocessing.RawValue. For T
// of at most 8 bytes it is exactly a Value without Locker and Update: every operation is one
// atomic instruction. A larger T is stored once and copied 8 bytes at a time; a Load concurrent
// with a Store may then see part of each (torn), as in Python, and Swap and CompareAndSwap fail
// with ErrNotAtomic. Use a Value, or a lock of your own, to make such a T consistent.
//
// Methods are safe for concurrent use by any number of goroutines and processes, with the
// atomicity just stated; each word is accessed with sequentially consistent atomics. A process
// that dies in the middle of a Store of a T of more than 8 bytes leaves it partly written.
type RawValue[T any] struct {
	blk *block
}

// NewRawValue allocates a RawValue holding init in the process's default heap, or in the heap
// In names.
func NewRawValue[T any](init T, opts ...Option) (*RawValue[T], error) {
	blk, err := newValueBlock(opts, infoOf[T]().code, false, init)
	if err != nil {
		return nil, err
	}
	return &RawValue[T]{blk: blk}, nil
}

// NewRawValueCode is NewRawValue with a Python typecode ('i' for int32, see Typecode): Python's
// RawValue('i', 0). It fails with ErrMismatch when code does not describe T; the code is recorded
// in the header.
func NewRawValueCode[T any](code byte, init T, opts ...Option) (*RawValue[T], error) {
	if err := CheckTypecode[T](code); err != nil {
		return nil, err
	}
	blk, err := newValueBlock(opts, code, false, init)
	if err != nil {
		return nil, err
	}
	return &RawValue[T]{blk: blk}, nil
}

// OpenRawValue returns the RawValue that ref names, after validating its header.
func OpenRawValue[T any](ref shm.Ref) (*RawValue[T], error) {
	ti := infoOf[T]()
	blk, err := openBlock(ref, ti, ti.kinds.raw, formValue, false)
	if err != nil {
		return nil, err
	}
	return &RawValue[T]{blk: blk}, nil
}

// Load returns the value (torn if a Store of a T of more than 8 bytes overlaps it).
func (v *RawValue[T]) Load() T { return load[T](v.blk) }

// Store sets the value. It always returns nil (the error is there so that Value and RawValue
// have the same methods).
func (v *RawValue[T]) Store(x T) error {
	if v.blk.w64 != nil {
		atomic.StoreUint64(v.blk.w64, toWord(x)&v.blk.ti.mask)
		return nil
	}
	writeSlot(v.blk, 0, x)
	return nil
}

// Swap sets the value to x and returns the value it replaced; ErrNotAtomic for T of more than 8
// bytes.
func (v *RawValue[T]) Swap(x T) (old T, err error) {
	if v.blk.w64 == nil {
		return old, fmt.Errorf("%w: Swap of a %d-byte %v", ErrNotAtomic, v.blk.ti.size, v.blk.ti.t)
	}
	return swapWord(v.blk, x), nil
}

// CompareAndSwap sets the value to new if it equals old (as Value.CompareAndSwap compares), and
// reports whether it did; ErrNotAtomic for T of more than 8 bytes.
func (v *RawValue[T]) CompareAndSwap(old, new T) (bool, error) {
	if v.blk.w64 == nil {
		return false, fmt.Errorf("%w: CompareAndSwap of a %d-byte %v", ErrNotAtomic, v.blk.ti.size, v.blk.ti.t)
	}
	return casWord(v.blk, old, new), nil
}

// Ref returns the RawValue's Ref, by which another process opens it.
func (v *RawValue[T]) Ref() shm.Ref { return v.blk.ref }

// Free returns the RawValue's memory to its heap; see Value.Free.
func (v *RawValue[T]) Free() error { return v.blk.release() }

// load is Load for both forms.
func load[T any](blk *block) T {
	switch {
	case blk.w64 != nil:
		w := atomic.LoadUint64(blk.w64)
		if !blk.ti.plain {
			w = blk.ti.fixWord(w)
		}
		return fromWord[T](w)
	case blk.gen != nil:
		x, _ := loadDouble[T](blk)
		return x
	}
	return readSlot[T](blk, 0)
}

func swapWord[T any](blk *block, x T) T {
	return fromWord[T](blk.ti.fixWord(atomic.SwapUint64(blk.w64, toWord(x)&blk.ti.mask)))
}

func casWord[T any](blk *block, old, new T) bool {
	want, nw := toWord(old)&blk.ti.mask, toWord(new)&blk.ti.mask
	for {
		cur := atomic.LoadUint64(blk.w64)
		// A peer may have left bytes beyond T, padding or a bool byte non-canonical: compare the
		// canonical forms, then swap the exact word read.
		if blk.ti.fixWord(cur) != blk.ti.fixWord(want) {
			return false
		}
		if atomic.CompareAndSwapUint64(blk.w64, cur, nw) {
			return true
		}
	}
}

// canonBytes returns the bytes of x with padding zeroed and bools 0 or 1.
func canonBytes[T any](ti *typeInfo, x T) []byte {
	b := bytes.Clone(bytesOf(&x))
	ti.canon(b)
	return b
}

// Cell is what Add works on: a *Value[T] or a *RawValue[T]. Only this package implements it.
type Cell[T any] interface {
	Load() T
	cell() *block
}

func (v *Value[T]) cell() *block    { return v.blk }
func (v *RawValue[T]) cell() *block { return v.blk }

// Integer is the constraint of Add: every integer type.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

// Add atomically adds delta to the integer in c (a *Value[T] or *RawValue[T]) and returns the new
// value, wrapping around on overflow as Go integers do; it takes no lock. For 32- and 64-bit
// integers it is one atomic add instruction (sync/atomic's); for 8- and 16-bit ones a
// compare-and-swap loop. It is sequentially consistent with every other operation on the value.
func Add[T Integer](c Cell[T], delta T) T {
	blk := c.cell()
	w := blk.w64
	switch blk.ti.size {
	case 8:
		return T(atomic.AddUint64(w, uint64(delta)))
	case 4:
		return T(atomic.AddUint32(shm.Word32(blk.data, 0), uint32(delta)))
	}
	mask := uint64(1)<<(8*blk.ti.size) - 1
	for {
		old := atomic.LoadUint64(w)
		nv := T(old) + delta
		if atomic.CompareAndSwapUint64(w, old, old&^mask|uint64(nv)&mask) {
			return nv
		}
	}
}
