package manager

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/opts"
	"github.com/shmkit/shmkit/shm"
)

var listKind = shm.RegisterKind("manager.List", func(r shm.Ref) (any, error) { return openAny(r) })

// A List is a growable sequence in shared memory: Python's Manager().list() without the server
// process. Its table holds the length and one word per element, each naming an immutable entry
// block (copy-on-write, as a Dict's); writes are serialised by one robust lock.Lock.
//
// Guarantees, in every process and goroutine:
//
//   - Get and Len take no lock; Get returns an element some write stored, whole, or ErrIndex.
//   - Append, Set and Pop of the last element change the table in place (one atomic store
//     publishes each); Insert and Pop of another element build a new table and publish it with one
//     store; Clear publishes an empty one. A reader sees each write entirely or not at all.
//   - Slice returns a copy of a consistent snapshot: the List between two writes.
//   - A process killed inside a write leaves every element whole and the List readable; the next
//     writer takes the lock over and rolls an unfinished Append, Insert or Pop back or forward
//     (see write.go), frees what the dead writer left unreferenced, and goes on.
//
// A List is safe for concurrent use by any number of goroutines and processes.
type List[T any] struct {
	c      *core
	vc     *codec.Codec[T]
	vr     rawType
	closed atomic.Bool
	hw     *handleWatches // shared by the copies AttachRef makes
}

// NewList allocates an empty List in the process's default heap, or in the heap In names.
func NewList[T any](options ...Option) (*List[T], error) {
	h, err := opts.Heap(options)
	if err != nil {
		return nil, err
	}
	c, err := newCore(h, listKind, formList, "list", typeName[T]())
	if err != nil {
		return nil, err
	}
	return &List[T]{c: c, vc: codec.For[T](), vr: rawTypeOf[T](), hw: newHandleWatches()}, nil
}

// OpenList returns a handle on the List that ref names (see OpenDict for the errors).
func OpenList[T any](ref shm.Ref) (*List[T], error) {
	c, err := openCore(ref, listKind, formList, "list", typeName[T]())
	if err != nil {
		return nil, err
	}
	return &List[T]{c: c, vc: codec.For[T](), vr: rawTypeOf[T](), hw: newHandleWatches()}, nil
}

// AttachRef makes the zero List l a handle on the List that ref names: how package proc rebuilds
// a child's *List[T] parameter.
func (l *List[T]) AttachRef(ref shm.Ref) error {
	o, err := OpenList[T](ref)
	if err == nil {
		l.c, l.vc, l.vr, l.hw = o.c, o.vc, o.vr, o.hw
	}
	return err
}

// Ref returns the List's Ref.
func (l *List[T]) Ref() shm.Ref { return l.c.ref }

// Close releases this handle: later calls on it return ErrClosed, and its watches end: Close
// returns once their goroutines have stopped reading the List (their channels are then closed).
// The List itself, and other handles on it, are unaffected. Closing twice is harmless.
func (l *List[T]) Close() error {
	l.closed.Store(true)
	l.hw.close()
	return nil
}

// Watch returns a channel that receives the List's version each time a write completes (Append,
// Set, Insert, Pop, Clear), in any process, until ctx ends or this handle is closed (then the
// channel is closed). As Dict.WatchAll: the version counts the writes completed while some
// watch of the List existed (modulo 2^32); versions skipped mean writes the receiver did not look
// at in between; every write completed after Watch returns is observed. Read the List (Slice,
// Len) to see what changed. The watcher is woken through a futex, not by polling.
func (l *List[T]) Watch(ctx context.Context) (<-chan uint64, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return watchVersions(ctx, l.c, l.hw, "List")
}

// Free returns the List's memory to the heap, for every process; see Dict.Free.
func (l *List[T]) Free() error {
	if err := l.check(); err != nil {
		return err
	}
	l.Close()
	return l.c.free(false)
}

func (l *List[T]) check() error {
	if l.closed.Load() {
		return fmt.Errorf("manager: List: %w", ErrClosed)
	}
	if l.c == nil {
		return errors.New("manager: zero List (use NewList or OpenList)")
	}
	return nil
}

func (l *List[T]) encode(v *T) ([]byte, error) {
	if l.vr.ok {
		return bytesOf(v, l.vr.size), nil
	}
	return encodeCBOR(l.vc, *v, "value")
}

func (l *List[T]) decode(src []byte, v *T) error {
	var err error
	if l.vr.ok {
		err = l.vr.decode(src, unsafe.Pointer(v))
	} else {
		err = decodeCBOR(l.vc, src, v)
	}
	if err != nil {
		return fmt.Errorf("%w: element: %v", ErrCorrupt, err)
	}
	return nil
}

// Len returns the number of elements (one atomic load of the current table's length).
func (l *List[T]) Len() int {
	if l.check() != nil {
		return 0
	}
	for range maxOptimistic {
		t, err := l.c.current(false)
		if err != nil {
			return 0
		}
		n := listLen(t)
		if atomic.LoadUint64(l.c.wTable) == t.word {
			return int(min(n, uint64(len(t.slots))))
		}
	}
	return 0
}

// Get returns element i (0 <= i < Len; a negative i counts from the end, as in Python). It
// takes no lock; ErrIndex when i is out of range.
func (l *List[T]) Get(i int) (v T, err error) {
	if err := l.check(); err != nil {
		return v, err
	}
	c := l.c
	for range maxOptimistic {
		t, err := c.current(false)
		if err != nil {
			return v, err
		}
		n := listLen(t)
		j, ierr := index(i, n, len(t.slots))
		if ierr != nil {
			if atomic.LoadUint64(c.wTable) == t.word {
				return v, ierr
			}
			continue
		}
		s := &t.slots[j]
		w := atomic.LoadUint64(s)
		e, ok := c.entryAt(w)
		if atomic.LoadUint64(s) != w || atomic.LoadUint64(c.wTable) != t.word {
			continue // checked before the copy too: the lengths may be a reused block's
		}
		var buf []byte
		if ok {
			buf = append(buf[:0], e.val...)
		}
		if atomic.LoadUint64(s) != w || atomic.LoadUint64(c.wTable) != t.word {
			continue
		}
		if !ok {
			return v, corrupt("list slot %d holds %#x", j, w)
		}
		return v, l.decode(buf, &v)
	}
	return v, fmt.Errorf("manager: List.Get: writers kept changing the list")
}

// index resolves a Python-style index against length n in a table of size slots.
func index(i int, n uint64, size int) (uint64, error) {
	if n > uint64(size) {
		return 0, corrupt("list of %d in a table of %d", n, size)
	}
	j := int64(i)
	if j < 0 {
		j += int64(n)
	}
	if j < 0 || uint64(j) >= n {
		return 0, fmt.Errorf("%w: %d in a list of %d", ErrIndex, i, n)
	}
	return uint64(j), nil
}

// write runs fn holding the lock, as one write, with the current table.
func (l *List[T]) write(ctx context.Context, fn func(t *table, n uint64) error) (err error) {
	if err := l.check(); err != nil {
		return err
	}
	if err := l.c.lockAll(ctx, true); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.c.unlockAll(true)) }()
	t, err := l.c.current(false)
	if err != nil {
		return err
	}
	n := listLen(t)
	if n > uint64(len(t.slots)) {
		return corrupt("list of %d in a table of %d", n, len(t.slots))
	}
	return fn(t, n)
}

// Append adds v at the end. It waits for the List's lock; AppendContext bounds the wait.
func (l *List[T]) Append(v T) error { return l.AppendContext(context.Background(), v) }

// AppendContext is Append, giving up with ctx.Err() if ctx ends while it waits for the lock.
func (l *List[T]) AppendContext(ctx context.Context, v T) error {
	vb, err := l.encode(&v)
	if err != nil {
		return err
	}
	return l.write(ctx, func(t *table, n uint64) error {
		if n == uint64(len(t.slots)) {
			if t, err = l.c.rebuild(t, n, n*2, func(dst, src []uint64) { copy(dst, src) }); err != nil {
				return err
			}
		}
		nw, err := l.c.newEntry(0, nil, vb)
		if err != nil {
			return err
		}
		l.c.st[0].logWrite(t.word, n, 0, nw)
		atomic.StoreUint64(&t.slots[n], nw)
		hook(atEntryLogged)
		// The publication: a reader checks the index against the length first.
		atomic.StoreUint64(shm.Word64(t.b, tabLen), n+1)
		hook(atEntryPublished)
		l.c.st[0].clearLog()
		return nil
	})
}

// Set replaces element i (negative: from the end).
func (l *List[T]) Set(i int, v T) error { return l.SetContext(context.Background(), i, v) }

// SetContext is Set bounded by ctx while it waits for the lock.
func (l *List[T]) SetContext(ctx context.Context, i int, v T) error {
	vb, err := l.encode(&v)
	if err != nil {
		return err
	}
	return l.write(ctx, func(t *table, n uint64) error {
		j, err := index(i, n, len(t.slots))
		if err != nil {
			return err
		}
		nw, err := l.c.newEntry(0, nil, vb)
		if err != nil {
			return err
		}
		old := atomic.LoadUint64(&t.slots[j])
		l.c.st[0].logWrite(t.word, j, old, nw)
		hook(atEntryLogged)
		atomic.StoreUint64(&t.slots[j], nw)
		hook(atEntryPublished)
		l.c.freeEntry(old)
		l.c.st[0].clearLog()
		return nil
	})
}

// Pop removes element i (Python's pop(i); -1 is the last) and returns it.
func (l *List[T]) Pop(i int) (T, error) { return l.PopContext(context.Background(), i) }

// PopContext is Pop bounded by ctx while it waits for the lock.
func (l *List[T]) PopContext(ctx context.Context, i int) (v T, err error) {
	err = l.write(ctx, func(t *table, n uint64) error {
		j, err := index(i, n, len(t.slots))
		if err != nil {
			return err
		}
		old := atomic.LoadUint64(&t.slots[j])
		e, ok := l.c.entryAt(old)
		if !ok {
			return corrupt("list slot %d holds %#x", j, old)
		}
		if err := l.decode(e.val, &v); err != nil {
			return err
		}
		if j == n-1 {
			l.c.st[0].logWrite(t.word, j, old, 0)
			atomic.StoreUint64(shm.Word64(t.b, tabLen), n-1)
			hook(atEntryLogged)
			atomic.StoreUint64(&t.slots[j], 0)
			hook(atEntryPublished)
		} else {
			_, err := l.c.rebuildLogged(t, n-1, uint64(len(t.slots)), ^uint64(0), old, 0, func(dst, src []uint64) {
				copy(dst, src[:j])
				copy(dst[j:], src[j+1:n])
			})
			if err != nil {
				return err
			}
		}
		l.c.freeEntry(old)
		l.c.st[0].clearLog()
		return nil
	})
	return v, err
}

// Insert inserts v before element i (Python's insert: i past the end appends, a negative i
// counts from the end).
func (l *List[T]) Insert(i int, v T) error { return l.InsertContext(context.Background(), i, v) }

// InsertContext is Insert bounded by ctx while it waits for the lock.
func (l *List[T]) InsertContext(ctx context.Context, i int, v T) error {
	vb, err := l.encode(&v)
	if err != nil {
		return err
	}
	return l.write(ctx, func(t *table, n uint64) error {
		j := int64(i)
		if j < 0 {
			j = max(0, j+int64(n))
		}
		at := min(uint64(j), n)
		nw, err := l.c.newEntry(0, nil, vb)
		if err != nil {
			return err
		}
		size := uint64(len(t.slots))
		if n == size {
			size *= 2
		}
		_, err = l.c.rebuildLogged(t, n+1, size, at, 0, nw, func(dst, src []uint64) {
			copy(dst, src[:at])
			dst[at] = nw
			copy(dst[at+1:], src[at:n])
		})
		if err != nil {
			return errors.Join(err, l.c.freeEntry(nw))
		}
		l.c.st[0].clearLog()
		return nil
	})
}

// Clear removes every element, atomically for readers.
func (l *List[T]) Clear() error { return l.ClearContext(context.Background()) }

// ClearContext is Clear bounded by ctx while it waits for the lock.
func (l *List[T]) ClearContext(ctx context.Context) error {
	return l.write(ctx, func(t *table, n uint64) error {
		nt, err := l.c.allocTable(minCap)
		if err != nil {
			return err
		}
		atomic.StoreUint64(l.c.wPending, nt.word)
		l.c.publishTable(t.word, nt, retireAll, nil, 0)
		return nil
	})
}

// Slice returns a copy of elements lo to hi-1 of a consistent snapshot (Python's l[lo:hi], with
// lo and hi clamped to the length; negative ones count from the end). Slice(0, math.MaxInt) copies
// the whole List. It takes no lock unless writers keep changing the List (see Dict.Items).
func (l *List[T]) Slice(lo, hi int) ([]T, error) { return l.SliceContext(context.Background(), lo, hi) }

// SliceContext is Slice bounded by ctx if it has to wait for the lock.
func (l *List[T]) SliceContext(ctx context.Context, lo, hi int) ([]T, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	var all [][]byte
	err := l.c.scan(ctx, false, func(_, val []byte) error {
		all = append(all, val)
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := len(all)
	clamp := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	lo, hi = clamp(lo), clamp(hi)
	if hi < lo {
		hi = lo
	}
	out := make([]T, hi-lo)
	for i := range out {
		if err := l.decode(all[lo+i], &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
