package dist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/deadline"
)

// A Queue is a distributed FIFO of T on a JetStream work-queue stream: what one process Puts,
// one process anywhere Gets. Values travel through the project's codec.
type Queue[T any] struct {
	c       *Conn
	js      jetstream.JetStream
	subject string
	cons    jetstream.Consumer
	ackWait time.Duration
}

// NewQueue opens the queue name ([A-Za-z0-9_-]), creating its stream on first use, waiting
// for the server as long as it takes. ackWait is how long a task taken with Take stays the
// taker's without a heartbeat; 0 is 30 s.
func NewQueue[T any](c *Conn, name string, ackWait time.Duration) (*Queue[T], error) {
	return NewQueueContext[T](context.Background(), c, name, ackWait)
}

// NewQueueContext is NewQueue bounded by ctx.
func NewQueueContext[T any](ctx context.Context, c *Conn, name string, ackWait time.Duration) (*Queue[T], error) {
	if err := checkName("queue", name); err != nil {
		return nil, err
	}
	if ackWait < 0 {
		return nil, fmt.Errorf("%w: ackWait %v", ErrBadArgs, ackWait)
	}
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	const op = "dist: NewQueue"
	ctx, cancel, err := bound(ctx, op, Forever)
	if err != nil {
		return nil, err
	}
	defer cancel()
	subject := "shmkit.q." + name
	st, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "Q_" + name, Subjects: []string{subject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, classify(ctx, op+" "+name+": create stream", Forever, err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "take", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxDeliver: -1,
	})
	if err != nil {
		return nil, classify(ctx, op+" "+name+": create consumer", Forever, err)
	}
	return &Queue[T]{c: c, js: c.js, subject: subject, cons: cons, ackWait: ackWait}, nil
}

// Put appends v and returns once the server has stored it, waiting as long as it takes. A
// value the codec cannot encode is ErrBadArgs, and nothing is sent.
func (q *Queue[T]) Put(v T) error { return q.put(context.Background(), v, Forever) }

// PutTimeout is Put bounded by timeout.
func (q *Queue[T]) PutTimeout(v T, timeout time.Duration) error {
	return q.put(context.Background(), v, timeout)
}

// PutContext is Put bounded by ctx.
func (q *Queue[T]) PutContext(ctx context.Context, v T) error { return q.put(ctx, v, Forever) }

func (q *Queue[T]) put(ctx context.Context, v T, timeout time.Duration) error {
	const op = "dist: Queue.Put"
	if err := q.c.closed(op); err != nil {
		return err
	}
	b, err := codec.For[T]().Append(nil, &v)
	if err != nil {
		return fmt.Errorf("%w: Put: %v", ErrBadArgs, err)
	}
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := q.js.Publish(ctx, q.subject, b); err != nil {
		return classify(ctx, op, timeout, err)
	}
	return nil
}

// Get takes the oldest value, waiting up to timeout (Forever: no bound; 0: only look), as
// Python's Queue.get: the value is removed from the queue once the server confirms it.
func (q *Queue[T]) Get(timeout time.Duration) (T, error) {
	t, err := q.Take(timeout)
	if err != nil {
		var zero T
		return zero, err
	}
	return t.Value, t.Ack()
}

// GetContext is Get bounded by ctx.
func (q *Queue[T]) GetContext(ctx context.Context) (T, error) {
	t, err := q.TakeContext(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return t.Value, t.AckContext(ctx)
}

// Take is the at-least-once Get: the value stays in the queue, invisible to others, until the
// Task is Acked (done) or Naked (given back); a taker that dies without either hands it back
// after the queue's ackWait. While the Task is held, heartbeats keep it the taker's.
func (q *Queue[T]) Take(timeout time.Duration) (*Task[T], error) {
	d, err := deadline.New("dist: Take", nil, timeout)
	if err != nil {
		return nil, err
	}
	for {
		var m jetstream.Msg
		if d.IsTry() {
			b, err := q.cons.FetchNoWait(1)
			if err != nil {
				return nil, classify(context.Background(), "dist: Take", 0, err)
			}
			for x := range b.Messages() {
				m = x
			}
			if m == nil {
				return nil, deadline.Timeout("dist: Take", 0)
			}
			return q.task(m)
		}
		left, err := d.Left(30 * time.Second)
		if err != nil {
			return nil, d.Err("dist: Take", err)
		}
		m, err = q.cons.Next(jetstream.FetchMaxWait(left))
		if err == nil {
			return q.task(m)
		}
		if transient(err) && !q.c.nc.IsClosed() {
			time.Sleep(50 * time.Millisecond) // the server is away: wait for it within the bound
			continue
		}
		if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return nil, classify(context.Background(), "dist: Take", timeout, err)
		}
	}
}

// TakeContext is Take bounded by ctx.
func (q *Queue[T]) TakeContext(ctx context.Context) (*Task[T], error) {
	for {
		m, err := q.cons.Next(jetstream.FetchContext(ctx))
		if err == nil {
			return q.task(m)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if transient(err) && !q.c.nc.IsClosed() {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, classify(ctx, "dist: Take", Forever, err)
		}
	}
}

func (q *Queue[T]) task(m jetstream.Msg) (*Task[T], error) {
	t := &Task[T]{m: m, stop: make(chan struct{})}
	if md, err := m.Metadata(); err == nil {
		t.Delivered = md.NumDelivered
	}
	if err := codec.For[T]().Decode(m.Data(), &t.Value); err != nil {
		_ = m.Term()
		return nil, fmt.Errorf("%w: Take: undecodable value terminated: %v", ErrCorrupt, err)
	}
	t.wg.Add(1)
	go t.beat(q.ackWait / 3)
	return t, nil
}

// A Task is a value taken from a Queue with Take, to be Acked or Naked.
type Task[T any] struct {
	Value     T
	Delivered uint64 // 1 the first time; more when it was handed back or its taker died
	m         jetstream.Msg
	once      sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// beat sends in-progress heartbeats from a goroutine of its own, so that work done by the
// taker does not delay them.
func (t *Task[T]) beat(every time.Duration) {
	defer t.wg.Done()
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			_ = t.m.InProgress()
		}
	}
}

func (t *Task[T]) end() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}

// Ack removes the task from the queue, confirmed by the server, waiting as long as it takes.
func (t *Task[T]) Ack() error { return t.AckContext(context.Background()) }

// AckContext is Ack bounded by ctx. When ctx ends first the ack may or may not have been
// taken: the task is then possibly handed to another taker after ackWait.
func (t *Task[T]) AckContext(ctx context.Context) error {
	t.end()
	const op = "dist: Task.Ack"
	ctx, cancel, err := bound(ctx, op, Forever)
	if err != nil {
		return err
	}
	defer cancel()
	if err := t.m.DoubleAck(ctx); err != nil {
		return classify(ctx, op, Forever, err)
	}
	return nil
}

// Nak hands the task back to the queue at once, for another taker. It does not wait for the
// server; a Nak lost with the connection hands the task back after ackWait.
func (t *Task[T]) Nak() error {
	t.end()
	if err := t.m.Nak(); err != nil {
		return classify(context.Background(), "dist: Task.Nak", Forever, err)
	}
	return nil
}
