package dist

import (
	"fmt"
	"iter"
	"reflect"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/pool"
)

// A listSink delivers a Map's or Starmap's items to the local pool's list logic.
type listSink func(idx int, res []byte, err error)

func (s listSink) deliver(idx int, res []byte, err error) { s(idx, res, err) }
func (s listSink) abandoned() bool                        { return false }

// A oneSink takes the single item of an Apply.
type oneSink[R any] struct {
	finish func(R, error)
}

func (s *oneSink[R]) deliver(idx int, res []byte, err error) {
	var r R
	if err == nil {
		if derr := codec.For[R]().Decode(res, &r); derr != nil {
			err = fmt.Errorf("%w: result: %v", ErrCorrupt, derr)
		}
	}
	s.finish(r, err)
}

func (s *oneSink[R]) abandoned() bool { return false }

// autoChunk is Python's default chunk size: n/(4*workers), rounded up.
func autoChunk(n, workers int) int {
	return max(1, (n+4*workers-1)/(4*workers))
}

// submitList encodes every item (a bad one is an error at the call, and nothing is sent) and
// submits them in chunks.
func submitList[A, R any](p *Pool, name string, items []A, chunkSize int, enc func(*A) ([]byte, error), dec func([]byte, *R) error) (*pool.AsyncResult[[]R], error) {
	if chunkSize == 0 {
		chunkSize = autoChunk(len(items), p.o.Workers)
	}
	ar, deliver := pool.NewRemoteList(len(items), dec)
	s := listSink(deliver)
	limit, itemLimit := p.maxBody(name)
	var chunks []*chunk
	var c *chunk
	for i := range items {
		b, err := encodeItem(enc, &items[i], i, itemLimit)
		if err != nil {
			return nil, err
		}
		if c == nil || c.n == chunkSize || !c.room(b, limit) {
			c = &chunk{s: s, fn: name, index: i}
			chunks = append(chunks, c)
		}
		c.addItem(b)
	}
	if err := p.submit(chunks, false); err != nil {
		return nil, err
	}
	return ar, nil
}

// encodeItem encodes item i, as ErrBadArgs when it cannot be encoded or cannot travel in any
// task (see fits).
func encodeItem[A any](enc func(*A) ([]byte, error), a *A, i, limit int) ([]byte, error) {
	b, err := enc(a)
	if err != nil {
		return nil, fmt.Errorf("%w: item %d: %v", pool.ErrBadArgs, i, err)
	}
	return b, fits(i, b, limit)
}

func typedEncoder[A any]() func(*A) ([]byte, error) {
	ac := codec.For[A]()
	return func(a *A) ([]byte, error) { return ac.Append(nil, a) }
}

// MapAsync is pool.MapAsync on a distributed pool: fn applied to every item by the workers,
// the call returning once the server has stored the tasks. fn must be registered with
// Register (in the workers' program too). Options: pool.ChunkSize (default
// len/(4*PoolOptions.Workers)).
func MapAsync[A, R any](p *Pool, fn func(A) (R, error), items []A, opts ...pool.CallOption) (*pool.AsyncResult[[]R], error) {
	r, err := lookup(fn, true)
	if err != nil {
		return nil, err
	}
	size, _, err := pool.RemoteCallOptions(opts)
	if err != nil {
		return nil, err
	}
	return submitList(p, r.name, items, size, typedEncoder[A](), codec.For[R]().Decode)
}

// Map is pool.Map on a distributed pool: MapAsync, then Get(Forever). Failed items are in an
// *pool.ItemsError beside the others' results.
func Map[A, R any](p *Pool, fn func(A) (R, error), items []A, opts ...pool.CallOption) ([]R, error) {
	ar, err := MapAsync(p, fn, items, opts...)
	if err != nil {
		return nil, err
	}
	return ar.Get(Forever)
}

// ApplyAsync is pool.ApplyAsync on a distributed pool.
func ApplyAsync[A, R any](p *Pool, fn func(A) (R, error), arg A) (*pool.AsyncResult[R], error) {
	r, err := lookup(fn, true)
	if err != nil {
		return nil, err
	}
	b, err := codec.For[A]().Append(nil, &arg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pool.ErrBadArgs, err)
	}
	ar, finish := pool.NewRemoteResult[R]()
	c := &chunk{s: &oneSink[R]{finish: finish}, fn: r.name}
	c.addItem(b)
	if err := p.submit([]*chunk{c}, false); err != nil {
		return nil, err
	}
	return ar, nil
}

// Apply is pool.Apply on a distributed pool: ApplyAsync, then Get(Forever).
func Apply[A, R any](p *Pool, fn func(A) (R, error), arg A) (R, error) {
	ar, err := ApplyAsync(p, fn, arg)
	if err != nil {
		var zero R
		return zero, err
	}
	return ar.Get(Forever)
}

// StarmapAsync is pool.StarmapAsync on a distributed pool: fn registered with RegisterFunc,
// each item's arguments checked at the call.
func StarmapAsync[R any](p *Pool, fn any, args [][]any, opts ...pool.CallOption) (*pool.AsyncResult[[]R], error) {
	r, err := lookup(fn, false)
	if err != nil {
		return nil, err
	}
	size, _, err := pool.RemoteCallOptions(opts)
	if err != nil {
		return nil, err
	}
	ft := r.fn.Type()
	var rt reflect.Type
	if n := ft.NumOut(); n > 0 && ft.Out(0) != errorType {
		rt = ft.Out(0)
	}
	if want := reflect.TypeFor[R](); rt != nil && rt != want {
		return nil, fmt.Errorf("%w: %s returns %v, the call asks for %v", pool.ErrBadArgs, r.name, rt, want)
	}
	enc := func(a *[]any) ([]byte, error) { return encodeArgs(ft, *a) }
	dec := func(b []byte, v *R) error {
		if rt == nil {
			return nil
		}
		return codec.Unmarshal(b, v)
	}
	return submitList(p, r.name, args, size, enc, dec)
}

// Starmap is pool.Starmap on a distributed pool: StarmapAsync, then Get(Forever).
func Starmap[R any](p *Pool, fn any, args [][]any, opts ...pool.CallOption) ([]R, error) {
	ar, err := StarmapAsync[R](p, fn, args, opts...)
	if err != nil {
		return nil, err
	}
	return ar.Get(Forever)
}

// A streamSink is the local pool's stream logic, as a sink.
type streamSink[R any] struct{ *pool.RemoteStream[R] }

func (s streamSink[R]) deliver(idx int, res []byte, err error) { s.Deliver(idx, res, err) }
func (s streamSink[R]) abandoned() bool                        { return s.Abandoned() }

// stream starts an Imap's feeder, which takes items from src as the loop consumes results.
func stream[A, R any](p *Pool, name string, src iter.Seq[A], size int, ordered bool) (streamSink[R], error) {
	s := streamSink[R]{pool.NewRemoteStream(ordered, max(4*p.o.Workers*size, 2*size), codec.For[R]().Decode)}
	p.mu.Lock()
	if err := p.usable(false); err != nil {
		p.mu.Unlock()
		return s, err
	}
	p.feeding++
	p.mu.Unlock()
	enc := typedEncoder[A]()
	go func() {
		defer func() {
			p.mu.Lock()
			p.feeding--
			p.cond.Broadcast()
			p.mu.Unlock()
		}()
		defer s.EndFeed()
		var c *chunk
		flush := func() {
			if c == nil || c.n == 0 {
				return
			}
			if err := p.submit([]*chunk{c}, true); err != nil {
				for i := range c.n {
					s.deliver(c.index+i, nil, err)
				}
			}
			c = nil
		}
		limit, itemLimit := p.maxBody(name)
		idx := 0
		for a := range src {
			if !s.Room(flush) {
				return
			}
			b, err := encodeItem(enc, &a, idx, itemLimit)
			if err != nil {
				flush()
				s.deliver(idx, nil, err)
				idx++
				continue
			}
			if c != nil && !c.room(b, limit) {
				flush()
			}
			if c == nil {
				c = &chunk{s: s, fn: name, index: idx}
			}
			if c.addItem(b); c.n == size {
				flush()
			}
			idx++
		}
		flush()
	}()
	return s, nil
}

func streamSize(p *Pool, opts []pool.CallOption) (int, error) {
	size, hint, err := pool.RemoteCallOptions(opts)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		size = 1
		if hint >= 0 {
			size = autoChunk(hint, p.o.Workers)
		}
	}
	return size, nil
}

// imap checks an Imap's function, options and pool at the call, and returns what ranges over
// its results: each result is passed to yield until it returns false; an error at the start
// of the loop is passed as a Result of Index -1.
func imap[A, R any](p *Pool, fn func(A) (R, error), src iter.Seq[A], ordered bool, opts []pool.CallOption) (func(yield func(pool.Result[R]) bool), error) {
	r, err := lookup(fn, true)
	if err != nil {
		return nil, err
	}
	size, err := streamSize(p, opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	err = p.usable(false)
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return func(yield func(pool.Result[R]) bool) {
		s, err := stream[A, R](p, r.name, src, size, ordered)
		if err != nil {
			yield(pool.Result[R]{Index: -1, Err: err})
			return
		}
		defer s.Stop()
		for {
			r, ok := s.Next()
			if !ok || !yield(r) {
				return
			}
		}
	}, nil
}

// Imap is pool.Imap on a distributed pool: results in the order of src, each with its error,
// items taken from src only as results are consumed. A pool closed by the time the loop
// starts yields one zero value with the error.
func Imap[A, R any](p *Pool, fn func(A) (R, error), src iter.Seq[A], opts ...pool.CallOption) (iter.Seq2[R, error], error) {
	run, err := imap(p, fn, src, true, opts)
	if err != nil {
		return nil, err
	}
	return func(yield func(R, error) bool) {
		run(func(r pool.Result[R]) bool { return yield(r.Value, r.Err) })
	}, nil
}

// ImapUnordered is pool.ImapUnordered on a distributed pool: each result as it arrives, with
// its index in src. A pool closed by the time the loop starts yields one Result with Index -1
// and the error.
func ImapUnordered[A, R any](p *Pool, fn func(A) (R, error), src iter.Seq[A], opts ...pool.CallOption) (iter.Seq[pool.Result[R]], error) {
	run, err := imap(p, fn, src, false, opts)
	if err != nil {
		return nil, err
	}
	return run, nil
}
