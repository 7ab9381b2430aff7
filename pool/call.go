package pool

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/deadline"
)

// A sink receives the items of one call, each exactly once, from any goroutine.
type sink interface {
	deliver(idx int, res []byte, err error)
	abandoned() bool // nobody wants the results any more: pending chunks are dropped
}

// A CallOption adjusts one call.
type CallOption func(*callOpts)

type callOpts struct {
	chunk    int // 0: the default
	lenHint  int // -1: none
	badChunk bool
}

// ChunkSize sets how many consecutive items go to a worker as one message. The default for Map,
// MapAsync, Starmap and StarmapAsync is Python's: len/(4*workers), rounded up (each worker gets
// about four chunks); for Imap and ImapUnordered it is 1, as in Python, or that formula applied to
// LenHint when one is given. Larger chunks cost fewer messages; an item of a chunk whose worker
// dies that had not started is given to another worker, so chunking never loses items. n ≤ 0 is
// an ErrBadArgs error at the call.
func ChunkSize(n int) CallOption {
	return func(o *callOpts) {
		o.chunk = n
		o.badChunk = n <= 0
	}
}

// LenHint tells Imap and ImapUnordered about how many items their source holds, so that the
// default chunk size can be computed as Map's is.
func LenHint(n int) CallOption { return func(o *callOpts) { o.lenHint = n } }

// prepareCall finds fn's registration (typed: by Register) and reads the call's options.
func prepareCall(fn any, typed bool, opts []CallOption) (*entry, callOpts, error) {
	e, err := lookup(fn, typed)
	if err != nil {
		return nil, callOpts{}, err
	}
	o, err := parseOpts(opts)
	return e, o, err
}

func parseOpts(opts []CallOption) (callOpts, error) {
	o := callOpts{lenHint: -1}
	for _, f := range opts {
		f(&o)
	}
	if o.badChunk {
		return o, fmt.Errorf("%w: chunk size %d", ErrBadArgs, o.chunk)
	}
	return o, nil
}

// An AsyncResult is the result of ApplyAsync, MapAsync or StarmapAsync (Python's AsyncResult).
// It becomes ready once, when every item of its call has ended: with a result, an error, or
// ErrWorkerDied for an item whose worker died (the call never hangs on a dead worker). Its methods
// are safe for concurrent use; everything the call stored happens before Get returns.
//
// Python's callback and error_callback have a Go form: Done, a channel closed when the result is
// ready, to select on in a goroutine of your own.
type AsyncResult[T any] struct {
	done chan struct{}
	val  T
	err  error
	// watch, when set (ApplyAsync), reads the result from its worker's ring for a short while
	// before a wait blocks (Pool.watch).
	watch func()
}

func newAsync[T any]() *AsyncResult[T] { return &AsyncResult[T]{done: make(chan struct{})} }

func (r *AsyncResult[T]) finish(v T, err error) {
	r.val, r.err = v, err
	close(r.done)
}

// Get waits for the result, at most timeout (Forever: no bound; 0: only look), and returns it. It
// returns ErrTimeout when the result is not ready in time (Python's TimeoutError); the call goes
// on, and Get may be called again. For MapAsync and StarmapAsync a failure of some items is an
// *ItemsError, returned beside the results of the others.
func (r *AsyncResult[T]) Get(timeout time.Duration) (T, error) {
	if err := r.Wait(timeout); err != nil {
		var zero T
		return zero, err
	}
	return r.val, r.err
}

// GetContext waits for the result or for ctx to end, and returns the result or ctx.Err().
func (r *AsyncResult[T]) GetContext(ctx context.Context) (T, error) {
	if r.watch != nil && ctx.Err() == nil {
		r.watch()
	}
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Wait waits until the result is ready, at most timeout (Forever: no bound; 0: only look), and
// returns nil when it is, ErrTimeout when it is not (Python's wait returns None either way).
func (r *AsyncResult[T]) Wait(timeout time.Duration) error {
	if r.watch != nil && timeout != 0 {
		r.watch()
	}
	return deadline.WaitChan("pool: Get", r.done, timeout)
}

// Ready reports whether the result is ready.
func (r *AsyncResult[T]) Ready() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Successful reports whether the call ended without error; before it is ready it returns
// ErrNotReady (Python raises ValueError).
func (r *AsyncResult[T]) Successful() (bool, error) {
	if !r.Ready() {
		return false, ErrNotReady
	}
	return r.err == nil, nil
}

// Done returns a channel closed when the result is ready.
func (r *AsyncResult[T]) Done() <-chan struct{} { return r.done }

// A listSink collects the items of a Map or Starmap into a slice.
type listSink[R any] struct {
	res    []R
	decode func([]byte, *R) error
	mu     sync.Mutex
	errs   map[int]error
	left   atomic.Int64
	ar     *AsyncResult[[]R]
}

func newListSink[R any](n int, decode func([]byte, *R) error) *listSink[R] {
	s := &listSink[R]{res: make([]R, n), decode: decode, ar: newAsync[[]R]()}
	s.left.Store(int64(n))
	if n == 0 {
		s.ar.finish(s.res, nil)
	}
	return s
}

func (s *listSink[R]) deliver(idx int, res []byte, err error) {
	if err == nil {
		err = decodeResult(s.decode, res, &s.res[idx], idx)
	}
	if err != nil {
		s.mu.Lock()
		if s.errs == nil {
			s.errs = make(map[int]error)
		}
		s.errs[idx] = err
		s.mu.Unlock()
	}
	s.ended(1)
}

// ended counts n items ended, and finishes the call after its last.
func (s *listSink[R]) ended(n int) {
	if s.left.Add(-int64(n)) != 0 {
		return
	}
	s.mu.Lock()
	errs := s.errs
	s.mu.Unlock()
	var err error
	if errs != nil {
		err = &ItemsError{Errs: errs, Total: len(s.res)}
	}
	s.ar.finish(s.res, err)
}

func (s *listSink[R]) abandoned() bool { return false }

// deliverRaw delivers the n results from idx on, raw in b (a bulk chunk's results).
func (s *listSink[R]) deliverRaw(idx, n int, b []byte) {
	copy(rawBytes(s.res[idx:idx+n]), b)
	s.ended(n)
}

func decodeResult[R any](decode func([]byte, *R) error, b []byte, r *R, idx int) error {
	if err := decode(b, r); err != nil {
		return fmt.Errorf("%w: result of task %d: %v", ErrCorrupt, idx, err)
	}
	return nil
}

// A oneSink takes the single item of an Apply.
type oneSink[R any] struct {
	decode func([]byte, *R) error
	ar     *AsyncResult[R]
}

func (s *oneSink[R]) deliver(idx int, res []byte, err error) {
	var r R
	if err == nil {
		err = decodeResult(s.decode, res, &r, idx)
	}
	s.ar.finish(r, err)
}

func (s *oneSink[R]) abandoned() bool { return false }

// The encoders of an item, by how the function was registered.
func typedEncoder[A any]() func(*chunk, *A) error {
	ac := codec.For[A]()
	return func(c *chunk, a *A) error {
		at := c.open()
		var err error
		c.msg, err = ac.Append(c.msg, a)
		return c.closeItem(at, err)
	}
}

func typedDecoder[R any]() func([]byte, *R) error { return codec.For[R]().Decode }

// buildChunks encodes every item of a list call, so that a bad item is an error at the call.
func buildChunks[A any](s sink, name string, items []A, size int, enc func(*chunk, *A) error) ([]*chunk, error) {
	var out []*chunk
	var c *chunk
	per := 16 // bytes an item is expected to take, with its length
	if ac := codec.For[A](); ac.Raw() {
		per = 4 + ac.Size()
	}
	for i := range items {
		if c == nil || c.n == size {
			c = newChunkCap(s, name, i, min(size, len(items)-i)*per)
			out = append(out, c)
		}
		if err := enc(c, &items[i]); err != nil {
			return nil, fmt.Errorf("%w: item %d: %v", ErrBadArgs, i, err)
		}
	}
	return out, nil
}

// submitList runs a list call: items encoded now, results into a slice. A bulk entry (raw
// argument and result types) on a pool without per-item limits sends bulk chunks; alias lets
// them point into items rather than copy them, for a caller that waits for the results (Map).
func submitList[A, R any](p *Pool, e *entry, items []A, o callOpts, enc func(*chunk, *A) error, dec func([]byte, *R) error, alias bool) (*AsyncResult[[]R], error) {
	size := o.chunk
	if size == 0 {
		size = autoChunk(len(items), p.size)
	}
	s := newListSink(len(items), dec)
	var chunks []*chunk
	if e.bulk != nil && p.bulkOK() {
		if o.chunk == 0 {
			size = min(size, max(1, p.bulkBytes/(e.asz+e.rsz)))
		}
		raw := rawBytes(items)
		if !alias {
			raw = append([]byte(nil), raw...)
		}
		for i := 0; i < len(items); i += size {
			n := min(size, len(items)-i)
			chunks = append(chunks, &chunk{s: s, name: e.name, index: i, n: n, attempt: 1,
				bulk: true, raw: raw[i*e.asz : (i+n)*e.asz], asz: e.asz, rsz: e.rsz})
		}
	} else {
		var err error
		if chunks, err = buildChunks(s, e.name, items, size, enc); err != nil {
			return nil, err
		}
	}
	if err := p.submit(chunks, false); err != nil {
		return nil, err
	}
	return s.ar, nil
}

// MapAsync is Python's map_async: it applies fn to every item in the pool's workers and returns
// at once. The result holds one value per item, in the order of items; when some items fail, Get
// returns the others' values beside an *ItemsError. fn must be registered with Register; an
// unregistered function, an item the codec cannot encode, a bad chunk size or a closed pool is an
// error at the call, and nothing is run.
func MapAsync[A, R any](p *Pool, fn func(A) (R, error), items []A, opts ...CallOption) (*AsyncResult[[]R], error) {
	return mapAsync(p, fn, items, false, opts)
}

// mapAsync is MapAsync; alias lets bulk chunks point into items (see submitList).
func mapAsync[A, R any](p *Pool, fn func(A) (R, error), items []A, alias bool, opts []CallOption) (*AsyncResult[[]R], error) {
	e, o, err := prepareCall(fn, true, opts)
	if err != nil {
		return nil, err
	}
	return submitList(p, e, items, o, typedEncoder[A](), typedDecoder[R](), alias)
}

// Map is Python's map: MapAsync, then Get(Forever). It returns one result per item, in order; if
// any item failed, also an *ItemsError naming each failed item (errors.Is(err, ErrWorkerDied)
// tells whether one was lost with its worker), and the other items' results are still there.
func Map[A, R any](p *Pool, fn func(A) (R, error), items []A, opts ...CallOption) ([]R, error) {
	ar, err := mapAsync(p, fn, items, true, opts) // items are not changed while Map waits
	if err != nil {
		return nil, err
	}
	return ar.Get(Forever)
}

// ApplyAsync is Python's apply_async: it runs fn(arg) in a worker and returns at once. A wait on
// its result (Get, GetContext, Wait) watches the worker's result ring for its first 20 µs, as
// Apply does.
func ApplyAsync[A, R any](p *Pool, fn func(A) (R, error), arg A) (*AsyncResult[R], error) {
	e, err := lookup(fn, true)
	if err != nil {
		return nil, err
	}
	s := &oneSink[R]{decode: typedDecoder[R](), ar: newAsync[R]()}
	c := newChunk(s, e.name, 0)
	if err := typedEncoder[A]()(c, &arg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArgs, err)
	}
	if d := p.spin.caller; d > 0 {
		s.ar.watch = func() { p.watch(c, s.ar.Ready, d) }
	}
	if err := p.submit([]*chunk{c}, false); err != nil {
		return nil, err
	}
	return s.ar, nil
}

// Apply is Python's apply: it runs fn(arg) in a worker and waits for the result. A function of
// several arguments takes them as one struct, or runs through Starmap. For its first 20 µs it
// watches the worker's result ring itself, reading the result there, before it blocks: a tiny
// task's round trip then costs no wake-up of a thread of this process (docs/pool.md, "An Apply's
// wait").
func Apply[A, R any](p *Pool, fn func(A) (R, error), arg A) (R, error) {
	ar, err := ApplyAsync(p, fn, arg)
	if err != nil {
		var zero R
		return zero, err
	}
	return ar.Get(Forever)
}

// watch reads the results of the worker c went to until ready() holds or d has passed, letting
// the other goroutines run between looks.
func (p *Pool) watch(c *chunk, ready func() bool, d time.Duration) {
	end := time.Now().Add(d)
	for i := 0; !ready(); i++ {
		if w := c.to.Load(); w != nil && !w.drained.Load() && !w.results.Empty() {
			p.take(w)
			continue
		}
		if i&15 == 15 && time.Now().After(end) {
			return
		}
		runtime.Gosched()
	}
}

// StarmapAsync is Python's starmap_async: fn(args[i]...) for each i. fn is any function
// registered with RegisterFunc whose first result is R (or which returns only an error, or
// nothing: R is then left zero). The number and types of each item's arguments are checked at the
// call.
func StarmapAsync[R any](p *Pool, fn any, args [][]any, opts ...CallOption) (*AsyncResult[[]R], error) {
	e, o, err := prepareCall(fn, false, opts)
	if err != nil {
		return nil, err
	}
	ft := e.fn.Type()
	rt := resultType(ft)
	if want := reflect.TypeFor[R](); rt != nil && rt != want {
		return nil, fmt.Errorf("%w: %s returns %v, the call asks for %v", ErrBadArgs, e.name, rt, want)
	}
	enc := func(c *chunk, a *[]any) error {
		b, err := encodeArgs(ft, *a, false)
		at := c.open()
		c.msg = append(c.msg, b...)
		return c.closeItem(at, err)
	}
	dec := func(b []byte, r *R) error {
		if rt == nil {
			return nil
		}
		return codec.Unmarshal(b, r)
	}
	return submitList(p, e, args, o, enc, dec, false)
}

// Starmap is Python's starmap: StarmapAsync, then Get(Forever).
func Starmap[R any](p *Pool, fn any, args [][]any, opts ...CallOption) ([]R, error) {
	ar, err := StarmapAsync[R](p, fn, args, opts...)
	if err != nil {
		return nil, err
	}
	return ar.Get(Forever)
}
