package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shmkit/internal/deadline"
	"github.com/shmkit/shmkit/pool"
)

// PoolOptions name a distributed pool and set how its tasks are delivered. A submitter
// (NewPool) and its workers (Work) give the same options.
type PoolOptions struct {
	// Name is the pool's name ([A-Za-z0-9_-]); "" is "default". Pools of different names
	// share nothing.
	Name string
	// AckWait is how long a worker may hold a task without a heartbeat before the task goes to
	// another worker: what a worker that dies costs, once. Workers heartbeat every AckWait/3.
	// 0 is 30 s.
	AckWait time.Duration
	// MaxDeliveries is how many times a task is given to a worker before it fails with an error
	// matching pool.ErrWorkerDied: each worker that died holding it, or shut down and handed it
	// back, counts. 0 is 5.
	MaxDeliveries int
	// Replicas is how many servers of a cluster store the pool's streams (1, 3 or 5); 0 is 1.
	Replicas int
	// Workers is about how many tasks the workers run at once, all machines together: the
	// default chunk size of Map and Starmap is len/(4*Workers), rounded up, as Python's. 0 is 4.
	Workers int
	// Memory keeps the pool's task and result streams in the servers' memory instead of in
	// files: no write to disk per task or result, so each costs less (see docs/dist.md for the
	// figures), but tasks and results not yet taken are lost when the server storing them
	// restarts (with Replicas > 1, when a majority of them does). The delivery guarantees are
	// otherwise the same. The side that creates the streams decides; a pool or worker that asks
	// for the other storage of existing streams fails with ErrBadArgs.
	Memory bool
}

func (o *PoolOptions) fill() (PoolOptions, error) {
	var v PoolOptions
	if o != nil {
		v = *o
	}
	if v.Name == "" {
		v.Name = "default"
	}
	if err := checkName("pool", v.Name); err != nil {
		return v, err
	}
	if v.AckWait < 0 || v.MaxDeliveries < 0 || v.Replicas < 0 || v.Workers < 0 {
		return v, fmt.Errorf("%w: negative option in %+v", ErrBadArgs, v)
	}
	if v.AckWait == 0 {
		v.AckWait = 30 * time.Second
	}
	if v.MaxDeliveries == 0 {
		v.MaxDeliveries = 5
	}
	if v.Replicas == 0 {
		v.Replicas = 1
	}
	if v.Workers == 0 {
		v.Workers = 4
	}
	return v, nil
}

// Message headers of tasks and results.
const (
	hFn       = "Shmkit-Fn"       // task: the registered function's name
	hTask     = "Shmkit-Task"     // task and result: the task's id
	hReply    = "Shmkit-Reply"    // task: the subject of its result
	hItems    = "Shmkit-Items"    // task: how many items it holds
	hMax      = "Shmkit-Max"      // task: PoolOptions.MaxDeliveries
	hStatus   = "Shmkit-Status"   // result: statusOK or why the task failed as a whole
	hWorker   = "Shmkit-Worker"   // result: host and pid of the worker
	hDelivery = "Shmkit-Delivery" // result: which delivery of the task it comes from
)

const (
	statusOK     = "ok"
	statusNoFunc = "nofunc" // the worker has no such function: body is the name
	statusGaveUp = "gaveup" // delivered MaxDeliveries times without a result
	statusBad    = "bad"    // the task message did not parse
	statusLarge  = "large"  // the results exceed the server's max payload: body is their size
)

func taskStream(name string) string { return "SHMKIT_T_" + name }
func resStream(name string) string  { return "SHMKIT_R_" + name }
func taskSubject(name string) string {
	return "shmkit.pool." + name + ".task"
}
func resSubject(name string) string { return "shmkit.pool." + name + ".res" }

// openStreams makes sure the pool's two streams and the workers' consumer exist.
//
// Both streams keep what they hold until it is removed (limits retention, not work-queue): a
// work-queue stream deletes each message as it is acked, and a file store that a deletion leaves
// empty deletes its block file and creates another, a file created and one deleted per task when
// tasks are taken as fast as they come (a third of the server's CPU, profiled here). Instead
// what is done is purged in bulk, below the workers' ack floor (tidyTasks) and below the ack
// floor of a submitter's result consumer (Pool.tidy). A stream made by an earlier version with
// work-queue retention works the same.
func openStreams(ctx context.Context, c *Conn, o PoolOptions) (jetstream.Stream, jetstream.Stream, jetstream.Consumer, error) {
	mk := func(cfg jetstream.StreamConfig) (jetstream.Stream, error) {
		s, err := c.js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = c.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				s, err = c.js.Stream(ctx, cfg.Name)
			}
		}
		if err == nil && s.CachedInfo().Config.Storage != cfg.Storage {
			return nil, fmt.Errorf("%w: stream %s exists with %v storage; PoolOptions.Memory asks for %v",
				ErrBadArgs, cfg.Name, s.CachedInfo().Config.Storage, cfg.Storage)
		}
		return s, err
	}
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	ts, err := mk(jetstream.StreamConfig{Name: taskStream(o.Name), Subjects: []string{taskSubject(o.Name) + ".>"},
		Retention: jetstream.LimitsPolicy, Storage: storage, Replicas: o.Replicas,
		Duplicates: 2 * time.Minute})
	if err != nil {
		return nil, nil, nil, classify(ctx, "dist: pool "+o.Name+": task stream", Forever, err)
	}
	rs, err := mk(jetstream.StreamConfig{Name: resStream(o.Name), Subjects: []string{resSubject(o.Name) + ".>"},
		Retention: jetstream.LimitsPolicy, Storage: storage, Replicas: o.Replicas,
		Duplicates: 2 * time.Minute, MaxAge: 24 * time.Hour})
	if err != nil {
		return nil, nil, nil, classify(ctx, "dist: pool "+o.Name+": result stream", Forever, err)
	}
	wc, err := ts.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.AckWait, MaxDeliver: -1, MaxAckPending: -1,
		MaxWaiting: 4096})
	if err != nil {
		return nil, nil, nil, classify(ctx, "dist: pool "+o.Name+": workers' consumer", Forever, err)
	}
	return ts, rs, wc, nil
}

// tidyTasks purges the tasks below the workers' ack floor: every one of them was acked (its
// result stored) or terminated, by whichever worker, for whichever submitter.
func tidyTasks(ctx context.Context, ts jetstream.Stream, wc jetstream.Consumer) error {
	info, err := wc.Info(ctx)
	if err != nil {
		return err
	}
	if floor := info.AckFloor.Stream; floor > 0 {
		return ts.Purge(ctx, jetstream.WithPurgeSequence(floor+1))
	}
	return nil
}

// tidyEvery is how often a submitter, and a worker, that have finished tasks since they last
// did purge what is done (see openStreams).
const tidyEvery = 200 * time.Millisecond

// A Pool is the submitting side of a distributed pool: its calls are those of a local
// pool.Pool — Map, MapAsync, Imap, ImapUnordered, Apply, ApplyAsync, Starmap, StarmapAsync,
// functions of this package taking the pool first, with the same arguments and results
// (pool.AsyncResult, pool.Result, pool.ItemsError, pool.TaskError) — and its tasks run in the
// processes that call Work, on any machine connected to the same NATS server or cluster.
//
// Delivery: every task's result is delivered exactly once to the call, whatever worker dies or
// restarts. A task stays in the server's stream until a worker has published its result (on a
// cluster, stored by a majority of Replicas); a worker that dies holding it costs one
// redelivery after AckWait; a result published twice (a task redelivered while its first
// worker was still running it, a publish retried) is removed by the server's de-duplication on
// the task's id, and any copy that gets through is dropped here, since a task id is awaited
// once. A task that cannot get a result — its function unknown to the worker, delivered
// MaxDeliveries times — fails with an error, never retried forever. A Pool is safe for
// concurrent use.
type Pool struct {
	c                  *Conn
	o                  PoolOptions
	id                 string // this submitter's, in its task ids and result subject
	tasks              jetstream.Stream
	results            jetstream.Stream
	workers            jetstream.Consumer // the workers' consumer of tasks, whose ack floor tidy reads
	cc                 jetstream.ConsumeContext
	durable            string
	resCons            jetstream.Consumer // this submitter's consumer of its results, whose ack floor tidy reads
	taken              atomic.Uint64      // the highest stream sequence of a result taken
	tidied             uint64             // the ack floor at the last purge of results (the tidying goroutine's)
	stopTidy, tidyDone chan struct{}

	mu         sync.Mutex
	cond       *sync.Cond
	pending    map[string]*chunk // by task id
	seq        uint64
	feeding    int // streaming calls still adding tasks
	closed     bool
	terminated bool
	joined     bool
	joinErr    error
	idleOnce   sync.Once
	idleCh     chan struct{} // closed once Closed and no call has a task pending (see idle)

	dropped atomic.Int64
}

// A chunk is a task: consecutive items of one call, run by one worker in one go.
type chunk struct {
	s     sink
	fn    string
	index int // of its first item in its call
	n     int
	body  []byte // the items' arguments, framed
	id    string
}

// A sink receives the items of one call, each exactly once.
type sink interface {
	deliver(idx int, res []byte, err error)
	abandoned() bool
}

// NewPool opens the distributed pool o.Name for submitting tasks, creating its streams on
// first use, waiting for the server as long as it takes (NewPoolContext bounds it).
func NewPool(c *Conn, o *PoolOptions) (*Pool, error) {
	return NewPoolContext(context.Background(), c, o)
}

// NewPoolContext is NewPool bounded by ctx.
func NewPoolContext(ctx context.Context, c *Conn, o *PoolOptions) (*Pool, error) {
	opts, err := o.fill()
	if err != nil {
		return nil, err
	}
	ctx, cancel, err := bound(ctx, "dist: NewPool", Forever)
	if err != nil {
		return nil, err
	}
	defer cancel()
	ts, rs, wc, err := openStreams(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	p := &Pool{c: c, o: opts, id: newID(), tasks: ts, results: rs, workers: wc, pending: make(map[string]*chunk),
		stopTidy: make(chan struct{}), tidyDone: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.durable = "sub-" + p.id
	cons, err := rs.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: p.durable,
		FilterSubject: p.resultSubject(), AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second,
		MaxDeliver: -1, InactiveThreshold: 10 * time.Minute})
	if err != nil {
		return nil, classify(ctx, "dist: NewPool "+opts.Name+": result consumer", Forever, err)
	}
	p.resCons = cons
	p.cc, err = cons.Consume(p.onResult, jetstream.PullMaxMessages(1024), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return nil, classify(ctx, "dist: NewPool "+opts.Name+": consume results", Forever, err)
	}
	go func() {
		defer close(p.tidyDone)
		everyTidy(p.stopTidy, p.tidy)
	}()
	return p, nil
}

// everyTidy calls f every tidyEvery, with a context bounding its purges to 5 s, until stop is
// closed.
func everyTidy(stop <-chan struct{}, f func(ctx context.Context)) {
	t := time.NewTicker(tidyEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			f(ctx)
			cancel()
		}
	}
}

// tidy purges the results below this pool's result consumer's ack floor, and the tasks the
// workers are done with, when it has taken results beyond what it last purged. A purge that
// fails (a server away) is tried again next time; until then the messages only take room.
//
// The bound is the ack floor, not the last result taken: a result delivered while the
// submitter's server went away is lost in flight and redelivered after the consumer's AckWait,
// by then behind results of later sequences that did arrive. Purging below the last taken
// would remove it before its redelivery, and its call would wait for ever
// (TestPoolClusterNodeLoss hung in 2 and 4 of two batches of 8 runs so).
func (p *Pool) tidy(ctx context.Context) {
	if p.taken.Load() <= p.tidied {
		return
	}
	info, err := p.resCons.Info(ctx)
	if err != nil {
		return
	}
	if floor := info.AckFloor.Stream; floor > p.tidied {
		if err := p.results.Purge(ctx, jetstream.WithPurgeSubject(p.resultSubject()), jetstream.WithPurgeSequence(floor+1)); err != nil {
			return
		}
		p.tidied = floor
	}
	_ = tidyTasks(ctx, p.tasks, p.workers)
}

func (p *Pool) resultSubject() string { return resSubject(p.o.Name) + "." + p.id }
func (p *Pool) taskSubject() string   { return taskSubject(p.o.Name) + "." + p.id }

// Name returns the pool's name.
func (p *Pool) Name() string { return p.o.Name }

// Dropped counts the results that arrived for a task no longer awaited: second copies of a
// result that the server's de-duplication did not remove, results of an abandoned Imap.
func (p *Pool) Dropped() int64 { return p.dropped.Load() }

// onResult takes one result message: the first for a task id is delivered, any other dropped.
func (p *Pool) onResult(m jetstream.Msg) {
	_ = m.Ack()
	if md, err := m.Metadata(); err == nil {
		p.taken.Store(max(p.taken.Load(), md.Sequence.Stream)) // onResult runs on one goroutine
	}
	h := m.Headers()
	id := h.Get(hTask)
	p.mu.Lock()
	c := p.pending[id]
	delete(p.pending, id)
	if c != nil && len(p.pending) == 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	if c == nil {
		p.dropped.Add(1)
		return
	}
	worker := h.Get(hWorker)
	var fail error
	switch st := h.Get(hStatus); st {
	case statusOK:
		res, errs, err := parseItems(m.Data(), c.n, c.index, worker)
		if err != nil {
			fail = err
			break
		}
		for i := range c.n {
			c.s.deliver(c.index+i, res[i], errs[i])
		}
		return
	case statusNoFunc:
		fail = fmt.Errorf("%w: worker %s does not have %s (register it in the workers' program)", pool.ErrNotRegistered, worker, c.fn)
	case statusGaveUp:
		fail = fmt.Errorf("%w: task %s given to workers %s times, and none returned a result (last: %s); not retried", pool.ErrWorkerDied, id, h.Get(hDelivery), worker)
	case statusBad:
		fail = fmt.Errorf("%w: worker %s could not read task %s: %s", ErrCorrupt, worker, id, m.Data())
	case statusLarge:
		fail = fmt.Errorf("%w: the results of task %s (items %d to %d) take %s bytes, more than this server's max payload carries: a smaller ChunkSize splits them", pool.ErrBadArgs, id, c.index, c.index+c.n-1, m.Data())
	default:
		fail = fmt.Errorf("%w: result of status %q", ErrCorrupt, st)
	}
	for i := range c.n {
		c.s.deliver(c.index+i, nil, fail)
	}
}

// usable returns the error a new call gets, or nil.
func (p *Pool) usable(fromFeed bool) error {
	switch {
	case p.terminated:
		return pool.ErrTerminated
	case p.closed && !fromFeed:
		return pool.ErrClosed
	}
	return nil
}

// submit publishes chunks as tasks; it returns once the server has stored them all. A publish
// that fails is retried (the server drops a copy it already has, by the task's id) until it
// succeeds or the pool is terminated.
func (p *Pool) submit(chunks []*chunk, fromFeed bool) error {
	p.mu.Lock()
	if err := p.usable(fromFeed); err != nil {
		p.mu.Unlock()
		return err
	}
	for _, c := range chunks {
		p.seq++
		c.id = p.id + "." + strconv.FormatUint(p.seq, 10)
		p.pending[c.id] = c
	}
	p.mu.Unlock()
	msgs := make([]*nats.Msg, len(chunks))
	futs := make([]jetstream.PubAckFuture, len(chunks))
	for i, c := range chunks {
		msgs[i] = p.taskMsg(c)
		futs[i], _ = p.c.js.PublishMsgAsync(msgs[i], jetstream.WithMsgID(c.id))
	}
	for i, f := range futs {
		if f != nil {
			select {
			case <-f.Ok():
				continue
			case <-f.Err():
			case <-time.After(2 * time.Second): // lost in a fail-over: publish again
			}
		}
		if err := p.publishSure(msgs[i], chunks[i].id); err != nil {
			for _, c := range chunks[i:] {
				p.forget(c, err)
			}
			return nil
		}
	}
	return nil
}

// publishSure publishes a task until the server has stored it, or the pool is terminated.
func (p *Pool) publishSure(m *nats.Msg, id string) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := p.c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return nil
		}
		p.mu.Lock()
		term := p.terminated
		p.mu.Unlock()
		if term {
			return pool.ErrTerminated
		}
		if p.c.nc.IsClosed() {
			return fmt.Errorf("%w: publish task %s: %v", ErrNoServer, id, err)
		}
		if errors.Is(err, nats.ErrMaxPayload) { // the server's limit fell below the task's size
			return fmt.Errorf("%w: task %s of %d bytes: %v", pool.ErrBadArgs, id, len(m.Data), err)
		}
		time.Sleep(wait)
	}
}

// forget fails a chunk's items with err, if its result has not come meanwhile.
func (p *Pool) forget(c *chunk, err error) {
	p.mu.Lock()
	_, ok := p.pending[c.id]
	delete(p.pending, c.id)
	if len(p.pending) == 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	if ok {
		for i := range c.n {
			c.s.deliver(c.index+i, nil, err)
		}
	}
}

func (p *Pool) taskMsg(c *chunk) *nats.Msg {
	m := nats.NewMsg(p.taskSubject())
	m.Header.Set(hFn, c.fn)
	m.Header.Set(hTask, c.id)
	m.Header.Set(hReply, p.resultSubject())
	m.Header.Set(hItems, strconv.Itoa(c.n))
	m.Header.Set(hMax, strconv.Itoa(p.o.MaxDeliveries))
	m.Data = c.body
	return m
}

// headroom is what a task's or a result's message may take beside its body, within the server's
// max payload: the headers (ids, subjects, a registered function's name, which adds its length).
const headroom = 2048

// maxBody is the largest body a task of function fn may have: the server refuses a message
// larger than its max payload (1 MiB by default), so that a chunk is cut short of it whatever
// its chunk size. The task and its results must both fit: the cut is at a quarter of the
// payload, leaving results room to be four times their arguments' size (a chunk whose results
// are larger still fails with ErrBadArgs; a smaller ChunkSize splits it); a single item may take
// the whole payload.
func (p *Pool) maxBody(fn string) (chunk, item int) {
	item = int(p.c.nc.MaxPayload()) - headroom - len(fn)
	return item / 4, item
}

// fits returns ErrBadArgs for item i when its encoded argument b cannot travel in any task.
func fits(i int, b []byte, limit int) error {
	if 4+len(b) > limit {
		return fmt.Errorf("%w: item %d: %d bytes encoded, more than a task can carry on this server (%d bytes: its max payload less the headers)", pool.ErrBadArgs, i, len(b), limit-4)
	}
	return nil
}

// room reports whether argument b fits in c within limit bytes (a chunk's first item always does:
// fits checked it).
func (c *chunk) room(b []byte, limit int) bool { return c.n == 0 || len(c.body)+4+len(b) <= limit }

// addItem appends one item's argument bytes to a chunk's body.
func (c *chunk) addItem(arg []byte) {
	c.body = binary.LittleEndian.AppendUint32(c.body, uint32(len(arg)))
	c.body = append(c.body, arg...)
	c.n++
}

// Close stops the pool from accepting calls: calls already made run to their end. It does not
// wait; Join does.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	return nil
}

// Terminate fails every task of this pool not yet ended with pool.ErrTerminated and removes
// those no worker has taken from the server; results still to come are dropped. The workers
// go on (they are other processes, perhaps other machines). It then releases what Join does.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	p.closed, p.terminated = true, true
	pend := p.pending
	p.pending = make(map[string]*chunk)
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, c := range pend {
		for i := range c.n {
			c.s.deliver(c.index+i, nil, fmt.Errorf("%w: task %d", pool.ErrTerminated, c.index+i))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if len(pend) > 0 {
		if perr := p.tasks.Purge(ctx, jetstream.WithPurgeSubject(p.taskSubject())); perr != nil {
			err = classify(ctx, "dist: Terminate: purge", 10*time.Second, perr)
		}
	}
	return errors.Join(err, p.release(ctx))
}

// Join waits until every call made before Close has ended, then stops receiving results and
// deletes this submitter's consumer from the server. Before Close it returns pool.ErrNotClosed.
// Join waits without bound for the calls (as pool.Pool.Join and Python's join do); JoinTimeout
// and JoinContext bound the wait.
func (p *Pool) Join() error { return p.JoinTimeout(Forever) }

// JoinTimeout is Join waiting at most timeout for the calls to end (Forever: no bound; 0: only
// look). When they have not all ended in time it returns an error matching ErrTimeout and
// releases nothing: the calls go on, and Join may be called again.
func (p *Pool) JoinTimeout(timeout time.Duration) error {
	if err := p.joinable(); err != nil {
		return err
	}
	if err := deadline.WaitChan("dist: Join", p.idle(), timeout); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.release(ctx)
}

// JoinContext is Join that gives up when ctx ends, returning ctx.Err(); as with JoinTimeout,
// the calls go on and Join may be called again. ctx also bounds the deletion of the consumer.
func (p *Pool) JoinContext(ctx context.Context) error {
	if err := p.joinable(); err != nil {
		return err
	}
	select {
	case <-p.idle():
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.release(ctx)
}

func (p *Pool) joinable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		return pool.ErrNotClosed
	}
	return nil
}

// idle returns a channel closed once the pool is closed and no call has a task pending or a
// stream still feeding it.
func (p *Pool) idle() <-chan struct{} {
	p.idleOnce.Do(func() {
		p.idleCh = make(chan struct{})
		go func() {
			p.mu.Lock()
			for len(p.pending) > 0 || p.feeding > 0 {
				p.cond.Wait()
			}
			p.mu.Unlock()
			close(p.idleCh)
		}()
	})
	return p.idleCh
}

func (p *Pool) release(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.joined {
		return p.joinErr
	}
	p.joined = true
	p.cc.Stop()
	<-p.cc.Closed()
	close(p.stopTidy)
	<-p.tidyDone
	if p.c.nc.IsClosed() {
		return nil // the server removes the consumer after InactiveThreshold
	}
	// Everything sent to this submitter is dropped now: results of tasks that Terminate gave
	// up on may still come, and wait out the stream's MaxAge.
	if err := p.results.Purge(ctx, jetstream.WithPurgeSubject(p.resultSubject())); err != nil {
		p.joinErr = classify(ctx, "dist: Join: purge results", 10*time.Second, err)
	}
	_ = tidyTasks(ctx, p.tasks, p.workers)
	if err := p.results.DeleteConsumer(ctx, p.durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		p.joinErr = errors.Join(p.joinErr, classify(ctx, "dist: Join: delete consumer", 10*time.Second, err))
	}
	return p.joinErr
}
