package pool

import "sync"

// Hooks for a pool whose workers are elsewhere (package dist): it hands out this package's
// AsyncResult, collects results with this package's list and stream logic, and reads this
// package's CallOptions, so that a program's calls and results stay the same whichever pool
// runs them. They are not needed to use a local Pool.

// NewRemoteResult returns an AsyncResult that is not ready, and the function that makes it
// ready with a value and an error. finish must be called once; what happens before it happens
// before Get, Wait and Done see the result ready.
func NewRemoteResult[T any]() (r *AsyncResult[T], finish func(T, error)) {
	r = newAsync[T]()
	return r, r.finish
}

// RemoteCallOptions reads a call's options: the chunk size (0: the default) and the length
// hint (-1: none). A bad chunk size is an error matching ErrBadArgs.
func RemoteCallOptions(opts []CallOption) (chunk, lenHint int, err error) {
	o, err := parseOpts(opts)
	return o.chunk, o.lenHint, err
}

// NewRemoteList returns the result of a Map of n items and the function that delivers item
// idx: its encoded result, decoded with decode, or its error. Each item must be delivered
// once, from any goroutine; after the last the result is ready, as a local Map's: the values
// in order, and an *ItemsError for the items that failed (a result that does not decode fails
// its item with ErrCorrupt).
func NewRemoteList[R any](n int, decode func([]byte, *R) error) (*AsyncResult[[]R], func(idx int, res []byte, err error)) {
	s := newListSink(n, decode)
	return s.ar, s.deliver
}

// A RemoteStream carries the results of an Imap (ordered) or ImapUnordered to its range
// loop, as a local pool's does, holding its feeder back so that at most window items are
// between the source and the loop.
type RemoteStream[R any] struct{ s *streamSink[R] }

// NewRemoteStream returns an empty stream; decode decodes a result's bytes.
func NewRemoteStream[R any](ordered bool, window int, decode func([]byte, *R) error) *RemoteStream[R] {
	s := &streamSink[R]{decode: decode, ordered: ordered, window: window}
	s.cond = sync.NewCond(&s.mu)
	if ordered {
		s.ready = make(map[int]Result[R])
	}
	return &RemoteStream[R]{s: s}
}

// Deliver passes item idx's encoded result, or its error; once per item, from any goroutine.
func (r *RemoteStream[R]) Deliver(idx int, res []byte, err error) { r.s.deliver(idx, res, err) }

// Abandoned reports whether the loop has ended (Stop): results are dropped, feeding stops.
func (r *RemoteStream[R]) Abandoned() bool { return r.s.abandoned() }

// Room waits until the feeder may take one more item from its source, and counts it; flush is
// called first whenever the wait would block. It returns false once the loop has ended.
func (r *RemoteStream[R]) Room(flush func()) bool { return r.s.room(flush) }

// EndFeed tells the loop that the feeder has taken its last item.
func (r *RemoteStream[R]) EndFeed() { r.s.endFeed() }

// Next waits for the next result (in the source's order when ordered); false at the end.
func (r *RemoteStream[R]) Next() (Result[R], bool) { return r.s.next() }

// Stop ends the loop: results still to come are dropped.
func (r *RemoteStream[R]) Stop() { r.s.stop() }
