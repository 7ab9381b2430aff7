package manager

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/opts"
	"github.com/shmkit/shmkit/shm"
)

// A Dict is a hash map in shared memory: Python's Manager().dict() without the server process.
// Every process that maps the heap reads it directly; writes are serialised per stripe: the keys
// fall into 16 stripes by hash, each with its own robust lock.Lock, so writers of keys in
// different stripes run at once (a grow and Clear take every stripe). It reaches child processes as a start argument (a *Dict[K, V] parameter is
// rebuilt from its Ref) or through OpenDict.
//
// Keys and values are stored encoded: raw memory for pointer-free fixed-size types (numbers,
// bools, arrays and structs of those: no codec, no allocation per Get or Set), CBOR (package
// internal/codec) for the rest. Keys are compared by their encoding: two keys are the same key
// when they encode to the same bytes. A raw key type with padding bytes should have them zero (as
// Go's zero values and composite literals leave them); CBOR keys compare by value, except NaN
// payloads and time.Time zones (see the codec).
//
// Guarantees, in every process and goroutine:
//
//   - Get, Contains and Len take no lock and never block on writers; a Get returns a value that
//     some Set stored, whole (entries are copy-on-write: see read.go), or reports the key absent.
//   - Set, Delete, Pop, SetDefault, Update and Clear are serialised by the key's stripe lock and are
//     atomic: a Get sees each of them entirely or not at all. A Set that returned happens before
//     every Get that starts after it (sequentially consistent atomics across processes).
//   - Items and Keys return a consistent snapshot: the Dict as it was between two writes.
//   - A process killed anywhere inside a write (Set, Delete, a grow, Clear) leaves every key with
//     its old or its new value, never torn; the next writer, in any process, takes the lock over
//     (the lock notices the dead holder within about 100 ms) and repairs what the dead writer left
//     (see write.go): counts, half-done grows, unreferenced blocks. What a killed writer had
//     allocated may leak when it died between an Alloc and its log (one block at most); nothing is
//     freed twice or reachable twice.
//   - The table grows (to twice the live entries, at three quarters full) without bound but the
//     heap's; removed entries' blocks go back to the heap and are reused.
//
// A Dict is safe for concurrent use by any number of goroutines and processes.
type Dict[K, V any] struct {
	c      *core
	kc     *codec.Codec[K]
	vc     *codec.Codec[V]
	kr, vr rawType
	closed atomic.Bool
	hw     *handleWatches // shared by the copies AttachRef makes
}

// handleWatches counts a handle's watch goroutines, so that Close returns only once they have
// stopped touching the structure's memory: after Free the blocks are reused, and a watcher's
// late unregistering would otherwise decrement another structure's word.
type handleWatches struct {
	ctx    context.Context // ends at Close, stopping this handle's watches
	stop   context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newHandleWatches() *handleWatches {
	hw := new(handleWatches)
	hw.ctx, hw.stop = context.WithCancel(context.Background())
	return hw
}

// close ends the handle's watches and returns once their goroutines have stopped.
func (hw *handleWatches) close() {
	if hw == nil {
		return
	}
	hw.stop()
	hw.mu.Lock()
	hw.closed = true
	hw.mu.Unlock()
	hw.wg.Wait()
}

// start registers a watcher of c (so that writers wake it) and runs watch in a goroutine that
// close waits for, with a context that ends with ctx or at close. first runs after the
// registration and before the goroutine: what it reads, the watch compares against. It fails
// with ErrClosed once the handle is closed; what names the structure in that error.
func (hw *handleWatches) start(ctx context.Context, c *core, what string, first func() error, watch func(ctx context.Context)) error {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.closed {
		return fmt.Errorf("manager: %s: %w", what, ErrClosed)
	}
	atomic.AddUint32(c.wWatch, 1)
	if err := first(); err != nil {
		atomic.AddUint32(c.wWatch, ^uint32(0))
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(hw.ctx, cancel)
	hw.wg.Add(1)
	go func() {
		defer hw.wg.Done()
		defer cancel()
		defer stop()
		watch(ctx) // c.watch unregisters when it returns
	}()
	return nil
}

// An Item is one key and its value, as Items returns them.
type Item[K, V any] struct {
	Key   K
	Value V
}

// NewDict allocates an empty Dict in the process's default heap (inherited by children started
// afterwards), or in the heap In names.
func NewDict[K, V any](options ...Option) (*Dict[K, V], error) {
	h, err := opts.Heap(options)
	if err != nil {
		return nil, err
	}
	c, err := newCore(h, dictKind, formDict, typeName[K](), typeName[V]())
	if err != nil {
		return nil, err
	}
	return newHandle[K, V](c), nil
}

// OpenDict returns a handle on the Dict that ref names, in any process that maps its heap. It
// fails with shm.ErrBadRef for a Ref that is not a live Dict, ErrMismatch for a Dict of other
// types, ErrCorrupt for a header no Dict has.
func OpenDict[K, V any](ref shm.Ref) (*Dict[K, V], error) {
	c, err := openCore(ref, dictKind, formDict, typeName[K](), typeName[V]())
	if err != nil {
		return nil, err
	}
	return newHandle[K, V](c), nil
}

func newHandle[K, V any](c *core) *Dict[K, V] {
	d := &Dict[K, V]{c: c, kc: codec.For[K](), vc: codec.For[V](), kr: rawTypeOf[K](), vr: rawTypeOf[V]()}
	d.hw = newHandleWatches()
	return d
}

// AttachRef makes the zero Dict d a handle on the Dict that ref names, as OpenDict does: how
// package proc rebuilds a child's *Dict[K, V] parameter.
func (d *Dict[K, V]) AttachRef(ref shm.Ref) error {
	o, err := OpenDict[K, V](ref)
	if err == nil {
		d.c, d.kc, d.vc, d.kr, d.vr, d.hw = o.c, o.kc, o.vc, o.kr, o.vr, o.hw
	}
	return err
}

// openAny rebuilds a Dict or List from a bare Ref (shm.Rebuild), for kinds whose Go types the Ref
// does not carry: it returns the Ref itself, to be opened with OpenDict or OpenList.
func openAny(r shm.Ref) (any, error) { return r, nil }

// Ref returns the Dict's Ref, by which another process opens it.
func (d *Dict[K, V]) Ref() shm.Ref { return d.c.ref }

// Close releases this handle: later calls on it return ErrClosed, and its watches end: Close
// returns once their goroutines have stopped reading the Dict (their channels are then closed).
// The Dict itself, and other handles on it (in this or other processes), are unaffected. Closing
// twice is harmless. Close must not be called from a WatchKeys match function, which runs in a
// watch goroutine that Close waits for.
func (d *Dict[K, V]) Close() error {
	d.closed.Store(true)
	d.hw.close()
	return nil
}

// startWatch starts a watch of the Dict (see handleWatches.start).
func (d *Dict[K, V]) startWatch(ctx context.Context, first func() error, watch func(ctx context.Context)) error {
	return d.hw.start(ctx, d.c, "Dict", first, watch)
}

// Free returns the Dict's memory (entries, table, lock, header) to the heap, for every process.
// Call it once, when no process uses the Dict any more; any use afterwards, here or elsewhere, is
// undefined (the blocks may be reused), although it cannot crash: every handle validates.
func (d *Dict[K, V]) Free() error {
	if err := d.check(); err != nil {
		return err
	}
	d.Close()
	return d.c.free(true)
}

func (d *Dict[K, V]) check() error {
	if d.closed.Load() {
		return fmt.Errorf("manager: Dict: %w", ErrClosed)
	}
	if d.c == nil {
		return fmt.Errorf("manager: Dict: %w", errors.New("zero Dict (use NewDict or OpenDict)"))
	}
	return nil
}

// key encodes k: its own memory for a raw key type (no copy: k must stay live while the bytes
// are used), CBOR otherwise. The CBOR path takes a copy of *k, so that the pointer, handed to the
// codec's interface, does not move the caller's variable to the heap.
func (d *Dict[K, V]) key(k *K) ([]byte, error) {
	if d.kr.ok {
		return bytesOf(k, d.kr.size), nil
	}
	return encodeCBOR(d.kc, *k, "key")
}

func (d *Dict[K, V]) val(v *V) ([]byte, error) {
	if d.vr.ok {
		return bytesOf(v, d.vr.size), nil
	}
	return encodeCBOR(d.vc, *v, "value")
}

func encodeCBOR[T any](c *codec.Codec[T], v T, what string) ([]byte, error) {
	b, err := c.Append(nil, &v)
	if err != nil {
		return nil, fmt.Errorf("manager: encode %s: %w", what, err)
	}
	return b, nil
}

// decodeVal sets *v from an encoded value; a raw one is copied without the codec's interface.
func (d *Dict[K, V]) decodeVal(src []byte, v *V) error {
	if d.vr.ok {
		return d.vr.decode(src, unsafe.Pointer(v))
	}
	return decodeCBOR(d.vc, src, v)
}

func decodeCBOR[T any](c *codec.Codec[T], src []byte, v *T) error {
	var x T
	err := c.Decode(src, &x)
	*v = x
	return err
}

// Get returns the value of key k and whether the Dict holds it. It takes no lock (see the type's
// guarantees). Its error is an encoding error for k, ErrCorrupt, or ErrClosed.
func (d *Dict[K, V]) Get(k K) (v V, ok bool, err error) {
	if err := d.check(); err != nil {
		return v, false, err
	}
	kb, err := d.key(&k)
	if err != nil {
		return v, false, err
	}
	v, _, ok, err = d.get(kb, hashKey(kb))
	return v, ok, err
}

// get reads the value of an encoded key without the lock, and the word of its entry (which
// changes with every write of the key).
func (d *Dict[K, V]) get(kb []byte, h uint64) (v V, w uint64, ok bool, err error) {
	c := d.c
	for try := 0; try < maxOptimistic; try++ {
		f, hit, err := c.lookup(kb, h)
		if !hit {
			if c.valid(&f) {
				return v, 0, false, err
			}
			continue
		}
		var derr error
		if d.vr.ok {
			derr = d.vr.decode(f.e.val, unsafe.Pointer(&v))
		} else {
			// The lengths were read from the live entry if the words are still unchanged: check
			// before copying, so that a racing reader never copies a reused block's garbage length.
			if !c.valid(&f) {
				continue
			}
			buf := append([]byte(nil), f.e.val...)
			if !c.valid(&f) {
				continue
			}
			derr = d.decodeVal(buf, &v)
		}
		if c.valid(&f) {
			v, ok, err = d.decoded(v, derr)
			return v, f.w, ok, err
		}
	}
	return d.getLocked(context.Background(), kb, h)
}

func (d *Dict[K, V]) decoded(v V, err error) (V, bool, error) {
	if err != nil {
		var zero V
		return zero, false, fmt.Errorf("%w: value: %v", ErrCorrupt, err)
	}
	return v, true, nil
}

// getLocked is get under the lock, for a reader that writers kept from finishing.
func (d *Dict[K, V]) getLocked(ctx context.Context, kb []byte, h uint64) (v V, w uint64, ok bool, err error) {
	x := d.c.stripeOf(h)
	if err := d.c.lockStripe(ctx, x, false); err != nil {
		return v, 0, false, err
	}
	defer func() { err = errors.Join(err, d.c.unlockStripe(x, false)) }()
	e, w, ok, err := d.c.lockedGet(kb, h)
	if err != nil || !ok {
		return v, 0, false, err
	}
	v, ok, err = d.decoded(v, d.decodeVal(e.val, &v))
	return v, w, ok, err
}

// Contains reports whether the Dict holds key k, as Get does.
func (d *Dict[K, V]) Contains(k K) (bool, error) {
	if err := d.check(); err != nil {
		return false, err
	}
	kb, err := d.key(&k)
	if err != nil {
		return false, err
	}
	h := hashKey(kb)
	for try := 0; try < maxOptimistic; try++ {
		f, hit, err := d.c.lookup(kb, h)
		if d.c.valid(&f) {
			return hit, err
		}
	}
	_, _, ok, err := d.getLocked(context.Background(), kb, h)
	return ok, err
}

// Len returns the number of keys: the sum of the stripes' counts (one atomic load each), exact
// between writes (a write in progress may or may not be counted). A count a dead writer left
// wrong is recounted by the next writer of its stripe.
func (d *Dict[K, V]) Len() int {
	if d.check() != nil {
		return 0
	}
	var n uint64
	for i := range d.c.st {
		n += atomic.LoadUint64(d.c.st[i].count)
	}
	if n > uint64(maxInt) {
		return maxInt
	}
	return int(n)
}

const maxInt = int(^uint(0) >> 1)

// write runs fn holding the stripe of the key of hash h (bounded by ctx), as one write. fn
// returns errGrow to have the table grown (every stripe held, this one released first) and be
// run again.
func (d *Dict[K, V]) write(ctx context.Context, h uint64, fn func(x *stripe) error) error {
	if err := d.check(); err != nil {
		return err
	}
	x := d.c.stripeOf(h)
	for {
		if err := d.c.lockStripe(ctx, x, true); err != nil {
			return err
		}
		tw := atomic.LoadUint64(d.c.wTable)
		err := d.writeLocked(x, fn)
		if err != errGrow {
			return err
		}
		if err := d.c.grow(ctx, tw); err != nil {
			return err
		}
	}
}

// writeLocked runs fn and releases x, also when fn panics (an Update's function).
func (d *Dict[K, V]) writeLocked(x *stripe, fn func(x *stripe) error) (err error) {
	defer func() {
		if uerr := d.c.unlockStripe(x, true); uerr != nil && err != errGrow {
			err = errors.Join(err, uerr)
		}
	}()
	return fn(x)
}

// Set stores v as the value of key k. It waits for the Dict's lock (held only for the length of
// one write, or of an Update's function); see SetContext to bound the wait. It fails, changing
// nothing, when k or v cannot be encoded, when the heap is full (shm.ErrNoSpace: the Dict stays
// usable), or with ErrCorrupt.
func (d *Dict[K, V]) Set(k K, v V) error { return d.SetContext(context.Background(), k, v) }

// SetContext is Set, giving up with ctx.Err() if ctx ends while it waits for the lock.
func (d *Dict[K, V]) SetContext(ctx context.Context, k K, v V) error {
	kb, err := d.key(&k)
	if err != nil {
		return err
	}
	vb, err := d.val(&v)
	if err != nil {
		return err
	}
	h := hashKey(kb)
	if err := d.check(); err != nil {
		return err
	}
	x := d.c.stripeOf(h)
	for {
		if err := d.c.lockStripe(ctx, x, true); err != nil {
			return err
		}
		tw := atomic.LoadUint64(d.c.wTable)
		_, err = d.c.put(x, kb, vb, h, true)
		if uerr := d.c.unlockStripe(x, true); err == nil {
			err = uerr
		}
		if err != errGrow {
			return err
		}
		if err := d.c.grow(ctx, tw); err != nil {
			return err
		}
	}
}

// Delete removes key k and reports whether the Dict held it.
func (d *Dict[K, V]) Delete(k K) (bool, error) { return d.DeleteContext(context.Background(), k) }

// DeleteContext is Delete bounded by ctx while it waits for the lock.
func (d *Dict[K, V]) DeleteContext(ctx context.Context, k K) (removed bool, err error) {
	kb, err := d.key(&k)
	if err != nil {
		return false, err
	}
	h := hashKey(kb)
	err = d.write(ctx, h, func(x *stripe) (err error) {
		removed, err = d.c.remove(x, kb, h)
		return err
	})
	return removed, err
}

// Pop removes key k and returns the value it had, atomically: two Pops of one key in any two
// processes never both get it.
func (d *Dict[K, V]) Pop(k K) (V, bool, error) { return d.PopContext(context.Background(), k) }

// PopContext is Pop bounded by ctx while it waits for the lock.
func (d *Dict[K, V]) PopContext(ctx context.Context, k K) (v V, ok bool, err error) {
	kb, err := d.key(&k)
	if err != nil {
		return v, false, err
	}
	h := hashKey(kb)
	err = d.write(ctx, h, func(x *stripe) error {
		e, _, found, err := d.c.lockedGet(kb, h)
		if err != nil || !found {
			return err
		}
		if v, _, err = d.decoded(v, d.decodeVal(e.val, &v)); err != nil {
			return err
		}
		ok = true
		_, err = d.c.remove(x, kb, h)
		return err
	})
	if err != nil {
		var zero V
		return zero, false, err
	}
	return v, ok, nil
}

// SetDefault returns the value of key k, first storing def as its value if the Dict does not
// hold k: Python's dict.setdefault, atomic with respect to every other write.
func (d *Dict[K, V]) SetDefault(k K, def V) (V, error) {
	return d.SetDefaultContext(context.Background(), k, def)
}

// SetDefaultContext is SetDefault bounded by ctx while it waits for the lock.
func (d *Dict[K, V]) SetDefaultContext(ctx context.Context, k K, def V) (V, error) {
	return d.UpdateContext(ctx, k, func(old V, ok bool) V {
		if ok {
			return old
		}
		return def
	})
}

// Update replaces the value of key k by fn(old, ok), where ok reports whether the Dict held k,
// and returns the new value: an atomic read-modify-write (d.Update(k, func(n int, _ bool) int {
// return n + 1 }) is an exact shared counter across processes). fn runs once, holding the key's
// stripe lock: it must be short and must not call the Dict's write methods (that would deadlock); reads are
// allowed. If fn panics, the lock is released and the Dict unchanged. If the process dies while
// fn runs, the next writer takes the lock over and the Dict is as before the Update.
func (d *Dict[K, V]) Update(k K, fn func(old V, ok bool) V) (V, error) {
	return d.UpdateContext(context.Background(), k, fn)
}

// UpdateContext is Update bounded by ctx while it waits for the lock.
func (d *Dict[K, V]) UpdateContext(ctx context.Context, k K, fn func(old V, ok bool) V) (nv V, err error) {
	kb, err := d.key(&k)
	if err != nil {
		return nv, err
	}
	h := hashKey(kb)
	err = d.write(ctx, h, func(x *stripe) error {
		e, _, found, err := d.c.lockedGet(kb, h)
		if err != nil {
			return err
		}
		if t, err := d.c.current(true); err != nil || (!found && d.c.full(t)) {
			return orErr(err, errGrow) // grow before fn runs, so that fn runs once
		}
		var old V
		if found {
			if old, _, err = d.decoded(old, d.decodeVal(e.val, &old)); err != nil {
				return err
			}
		}
		nv = fn(old, found)
		if found && d.vr.ok && rawEqual(&old, &nv, d.vr.size) {
			return nil // unchanged: nothing to publish
		}
		vb, err := d.val(&nv)
		if err != nil {
			return err
		}
		_, err = d.c.put(x, kb, vb, h, false)
		return err
	})
	return nv, err
}

func rawEqual[V any](a, b *V, n int) bool {
	return string(unsafe.Slice((*byte)(unsafe.Pointer(a)), n)) == string(unsafe.Slice((*byte)(unsafe.Pointer(b)), n))
}

// Clear removes every key, atomically for readers (they see the full Dict or the empty one).
func (d *Dict[K, V]) Clear() error { return d.ClearContext(context.Background()) }

// ClearContext is Clear bounded by ctx while it waits for the lock.
func (d *Dict[K, V]) ClearContext(ctx context.Context) error {
	if err := d.check(); err != nil {
		return err
	}
	if err := d.c.lockAll(ctx, true); err != nil {
		return err
	}
	err := d.c.clearAll()
	return errors.Join(err, d.c.unlockAll(true))
}

// orErr returns err if it is not nil, else alt.
func orErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// Items returns a consistent snapshot of the Dict's keys and values: the Dict as it stood
// between two writes, in no particular order. It copies without a lock when it can (no write
// overlapped the copy) and otherwise takes the lock; see ItemsContext to bound that wait.
func (d *Dict[K, V]) Items() ([]Item[K, V], error) { return d.ItemsContext(context.Background()) }

// ItemsContext is Items bounded by ctx if it has to wait for the lock.
func (d *Dict[K, V]) ItemsContext(ctx context.Context) ([]Item[K, V], error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var out []Item[K, V]
	err := d.c.scan(ctx, true, func(kb, vb []byte) error {
		var it Item[K, V]
		if err := d.decodeKey(kb, &it.Key); err != nil {
			return fmt.Errorf("%w: key: %v", ErrCorrupt, err)
		}
		if err := d.decodeVal(vb, &it.Value); err != nil {
			return fmt.Errorf("%w: value: %v", ErrCorrupt, err)
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

// Keys returns the keys of a consistent snapshot (see Items).
func (d *Dict[K, V]) Keys() ([]K, error) {
	items, err := d.Items()
	if err != nil {
		return nil, err
	}
	keys := make([]K, len(items))
	for i := range items {
		keys[i] = items[i].Key
	}
	return keys, nil
}

func (d *Dict[K, V]) decodeKey(src []byte, k *K) error {
	if d.kr.ok {
		return d.kr.decode(src, unsafe.Pointer(k))
	}
	return decodeCBOR(d.kc, src, k)
}

// typeName spells T with its package path, for the header's type check.
func typeName[T any]() string {
	t := reflect.TypeFor[T]()
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}
