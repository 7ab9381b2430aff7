package pool

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
)

// A Result is one item's outcome in ImapUnordered: its index in the source, and its value or
// error.
type Result[R any] struct {
	Index int
	Value R
	Err   error
}

// A streamSink passes the items of an Imap to the range loop, and holds the feeder back so that at
// most window items are between the source and the loop: memory stays bounded however long the
// source is.
type streamSink[R any] struct {
	decode  func([]byte, *R) error
	ordered bool
	window  int

	mu      sync.Mutex
	cond    *sync.Cond
	ready   map[int]Result[R] // ordered: by index
	queue   []Result[R]       // unordered: in arrival order
	fed     int               // items taken from the source
	taken   int               // items handed to the loop
	fedAll  bool
	stopped atomic.Bool // the loop has ended: results are dropped
}

func (s *streamSink[R]) deliver(idx int, res []byte, err error) {
	r := Result[R]{Index: idx, Err: err}
	if err == nil {
		r.Err = decodeResult(s.decode, res, &r.Value, idx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return
	}
	if s.ordered {
		s.ready[idx] = r
	} else {
		s.queue = append(s.queue, r)
	}
	s.cond.Broadcast()
}

func (s *streamSink[R]) abandoned() bool { return s.stopped.Load() }

// next waits for the next result (in order of the source when ordered); false at the end.
func (s *streamSink[R]) next() (Result[R], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.ordered {
			if r, ok := s.ready[s.taken]; ok {
				delete(s.ready, s.taken)
				s.taken++
				s.cond.Broadcast()
				return r, true
			}
		} else if len(s.queue) > 0 {
			r := s.queue[0]
			s.queue = s.queue[1:]
			s.taken++
			s.cond.Broadcast()
			return r, true
		}
		if s.fedAll && s.taken == s.fed {
			return Result[R]{}, false
		}
		s.cond.Wait()
	}
}

func (s *streamSink[R]) stop() {
	s.stopped.Store(true)
	s.mu.Lock()
	s.ready, s.queue = nil, nil
	s.cond.Broadcast()
	s.mu.Unlock()
}

// room waits until the feeder may take one more item from the source, and counts it; false when
// the loop has ended. flush is called first whenever the wait would block, so that the items the
// feeder holds are on their way.
func (s *streamSink[R]) room(flush func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.fed-s.taken >= s.window && !s.stopped.Load() {
		s.mu.Unlock()
		flush()
		s.mu.Lock()
		if s.fed-s.taken >= s.window && !s.stopped.Load() {
			s.cond.Wait()
		}
	}
	if s.stopped.Load() {
		return false
	}
	s.fed++
	return true
}

func (s *streamSink[R]) endFeed() {
	s.mu.Lock()
	s.fedAll = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// feed takes items from src into chunks of size and submits them, until src ends or the loop
// stops. An item that cannot be encoded fails alone.
func (s *streamSink[R]) feed(p *Pool, name string, src iter.Seq[any], size int, enc func(*chunk, any) error) {
	defer p.endFeed()
	defer s.endFeed()
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
	idx := 0
	for a := range src {
		if !s.room(flush) {
			return
		}
		if c == nil {
			c = newChunk(s, name, idx)
		}
		if err := enc(c, a); err != nil {
			flush()
			s.deliver(idx, nil, fmt.Errorf("%w: item %d: %v", ErrBadArgs, idx, err))
		} else if c.n == size {
			flush()
		}
		idx++
	}
	flush()
}

// stream starts an Imap: the feeder runs in a goroutine of its own while the caller ranges.
func stream[A, R any](p *Pool, e *entry, src iter.Seq[A], o callOpts, ordered bool) (*streamSink[R], error) {
	size := o.chunk
	if size == 0 {
		size = 1
		if o.lenHint >= 0 {
			size = autoChunk(o.lenHint, p.size)
		}
	}
	s := &streamSink[R]{decode: typedDecoder[R](), ordered: ordered, window: max(4*p.size*size, 2*size)}
	s.cond = sync.NewCond(&s.mu)
	if ordered {
		s.ready = make(map[int]Result[R])
	}
	if err := p.beginFeed(); err != nil {
		return nil, err
	}
	enc := typedEncoder[A]()
	anySrc := func(yield func(any) bool) {
		for a := range src {
			if !yield(a) {
				return
			}
		}
	}
	go s.feed(p, e.name, anySrc, size, func(c *chunk, a any) error {
		v := a.(A)
		return enc(c, &v)
	})
	return s, nil
}

// Imap is Python's imap: it applies fn to each item of src in the workers and yields the results
// in the order of src, each with its error (nil, a *TaskError, a *WorkerDiedError, ...). It streams:
// items are taken from src only as results are consumed (at most about 4*workers*chunk items are
// between src and the loop), so a source of any length runs in bounded memory. Work starts when
// the loop starts, and must start before Close; breaking out of the loop stops taking items and
// drops the results still to come. A channel source (see Chan) must be closed by its sender.
//
// fn, the options and the pool's state are checked at the call: an error there returns a nil
// sequence. A pool closed or broken by the time the loop starts yields one zero value with the
// error.
func Imap[A, R any](p *Pool, fn func(A) (R, error), src iter.Seq[A], opts ...CallOption) (iter.Seq2[R, error], error) {
	e, o, err := prepareCall(fn, true, opts)
	if err != nil {
		return nil, err
	}
	if err := p.usable(); err != nil {
		return nil, err
	}
	return func(yield func(R, error) bool) {
		s, err := stream[A, R](p, e, src, o, true)
		if err != nil {
			var zero R
			yield(zero, err)
			return
		}
		defer s.stop()
		for {
			r, ok := s.next()
			if !ok || !yield(r.Value, r.Err) {
				return
			}
		}
	}, nil
}

// ImapUnordered is Python's imap_unordered: Imap, yielding each result as soon as it arrives,
// with its index in src. A pool closed or broken by the time the loop starts yields one Result
// with Index -1 and the error.
func ImapUnordered[A, R any](p *Pool, fn func(A) (R, error), src iter.Seq[A], opts ...CallOption) (iter.Seq[Result[R]], error) {
	e, o, err := prepareCall(fn, true, opts)
	if err != nil {
		return nil, err
	}
	if err := p.usable(); err != nil {
		return nil, err
	}
	return func(yield func(Result[R]) bool) {
		s, err := stream[A, R](p, e, src, o, false)
		if err != nil {
			yield(Result[R]{Index: -1, Err: err})
			return
		}
		defer s.stop()
		for {
			r, ok := s.next()
			if !ok || !yield(r) {
				return
			}
		}
	}, nil
}

// Chan returns a sequence of the values received from ch until it is closed: a channel source for
// Imap and ImapUnordered.
func Chan[A any](ch <-chan A) iter.Seq[A] {
	return func(yield func(A) bool) {
		for v := range ch {
			if !yield(v) {
				return
			}
		}
	}
}
