package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Work runs the tasks of the distributed pool o.Name in this process, concurrency at a time,
// until ctx ends; then it hands the tasks it is running back to the server at once (Nak), for
// other workers, and returns nil. (The functions still running go on in their goroutines;
// their results are dropped.) Tasks run registered functions (Register, RegisterFunc): this
// program must register those the submitters call.
//
// Work takes one task per free slot (a pull of one message when a slot frees, never a
// prefetch), so that a busy worker holds no task it does not run. While a task runs, a
// goroutine of its own sends heartbeats every AckWait/3, which a CPU-bound task does not
// delay (Go preempts it). A worker that dies holding a task costs that task one redelivery
// after AckWait. A task whose function this program lacks, or that was delivered more than
// MaxDeliveries times, is removed (terminated) and reported to its submitter.
//
// Work returns an error when the pool's streams cannot be opened (bad options, no server,
// refused); once running, it outlasts server restarts and cluster fail-overs, waiting for the
// connection to come back.
func Work(ctx context.Context, c *Conn, o *PoolOptions, concurrency int) error {
	opts, err := o.fill()
	if err != nil {
		return err
	}
	if concurrency <= 0 {
		return fmt.Errorf("%w: concurrency %d", ErrBadArgs, concurrency)
	}
	var cons jetstream.Consumer
	var ts jetstream.Stream
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ts, _, cons, err = openStreams(octx, c, opts)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRefused) || errors.Is(err, ErrBadArgs) || c.nc.IsClosed() {
			return err
		}
		time.Sleep(wait) // no server reachable yet: the connection reconnects by itself
	}
	host, _ := os.Hostname()
	w := &worker{c: c, o: opts, cons: cons, name: host + ":" + strconv.Itoa(os.Getpid())}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Go(func() { w.tidy(ctx, ts) })
	wg.Wait()
	w.acking.Wait()
	return nil
}

type worker struct {
	acking sync.WaitGroup // results being confirmed, then acked
	acked  atomic.Uint64  // tasks acked or terminated, which tidy purges
	c      *Conn
	o      PoolOptions
	cons   jetstream.Consumer
	name   string
}

// loop is one slot: take a task, run it, publish its result, ack; until ctx ends.
func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		// A bounded pull, not cancelled by ctx: a task the server sends in reply is taken
		// (and handed back at once if ctx has ended), never left unanswered until AckWait.
		m, err := w.cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) &&
				!errors.Is(err, context.DeadlineExceeded) {
				select { // the server is away or the consumer moves: try again shortly
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			continue
		}
		if ctx.Err() != nil {
			_ = m.Nak()
			return
		}
		w.handle(ctx, m)
	}
}

func (w *worker) handle(ctx context.Context, m jetstream.Msg) {
	h := m.Headers()
	id, reply, fn := h.Get(hTask), h.Get(hReply), h.Get(hFn)
	var delivered uint64
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	n, nerr := strconv.Atoi(h.Get(hItems))
	maxDel, merr := strconv.Atoi(h.Get(hMax))
	if id == "" || reply == "" {
		_ = m.Term() // no one to tell: not a shmkit task
		return
	}
	if nerr != nil || merr != nil || n < 0 {
		w.fail(ctx, m, id, reply, delivered, statusBad, "bad headers")
		return
	}
	if maxDel > 0 && delivered > uint64(maxDel) {
		w.fail(ctx, m, id, reply, delivered, statusGaveUp, "")
		return
	}
	r := lookupName(fn)
	if r == nil {
		w.fail(ctx, m, id, reply, delivered, statusNoFunc, fn)
		return
	}
	args, err := splitItems(m.Data(), n)
	if err != nil {
		w.fail(ctx, m, id, reply, delivered, statusBad, err.Error())
		return
	}
	stop := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() { heartbeat(m, w.o.AckWait/3, stop) })
	done := make(chan []byte, 1)
	go func() {
		var out []byte
		for _, a := range args {
			out = runItem(r, a, out)
		}
		done <- out
	}()
	var out []byte
	select {
	case out = <-done:
	case <-ctx.Done():
		close(stop)
		hb.Wait()
		_ = m.Nak() // shutting down: another worker takes it now
		return
	}
	// The result is published without waiting here: the slot takes its next task while the
	// server confirms it, and the task is acked (its heartbeats stopped) once it has.
	res := w.result(id, reply, delivered, statusOK, out)
	if len(out) > int(w.c.nc.MaxPayload())-headroom {
		res = w.result(id, reply, delivered, statusLarge, []byte(strconv.Itoa(len(out))))
	}
	f, err := w.c.js.PublishMsgAsync(res, jetstream.WithMsgID("r."+id))
	w.acking.Go(func() {
		ok := false
		if err == nil {
			select {
			case <-f.Ok():
				ok = true
			case <-f.Err():
			case <-time.After(5 * time.Second):
			}
		}
		if !ok {
			ok = w.publishMsg(ctx, res, id) == nil
		}
		close(stop)
		hb.Wait()
		if ok {
			_ = m.Ack()
			w.acked.Add(1)
		} else {
			_ = m.Nak()
		}
	})
}

// fail reports a task that cannot run to its submitter and removes it from the stream.
func (w *worker) fail(ctx context.Context, m jetstream.Msg, id, reply string, delivered uint64, status, msg string) {
	if err := w.publish(ctx, id, reply, delivered, status, []byte(msg)); err != nil {
		_ = m.Nak()
		return
	}
	_ = m.Term()
	w.acked.Add(1)
}

// tidy purges the tasks the workers are done with every tidyEvery while this worker finishes
// tasks, until ctx ends: submitters do too, but one that ended may leave some (see openStreams).
func (w *worker) tidy(ctx context.Context, ts jetstream.Stream) {
	var last uint64
	everyTidy(ctx.Done(), func(tctx context.Context) {
		if n := w.acked.Load(); n != last && tidyTasks(tctx, ts, w.cons) == nil {
			last = n
		}
	})
}

// publish stores a task's result in the result stream, with the task's id as the message id
// so that the server keeps one copy; it retries until stored or ctx ends.
func (w *worker) publish(ctx context.Context, id, reply string, delivered uint64, status string, body []byte) error {
	return w.publishMsg(ctx, w.result(id, reply, delivered, status, body), id)
}

// result makes the result message of a task.
func (w *worker) result(id, reply string, delivered uint64, status string, body []byte) *nats.Msg {
	res := nats.NewMsg(reply)
	res.Header.Set(hTask, id)
	res.Header.Set(hStatus, status)
	res.Header.Set(hWorker, w.name)
	res.Header.Set(hDelivery, strconv.FormatUint(delivered, 10))
	res.Data = body
	return res
}

func (w *worker) publishMsg(ctx context.Context, res *nats.Msg, id string) error {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := w.c.js.PublishMsg(pctx, res, jetstream.WithMsgID("r."+id))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.c.nc.IsClosed() || errors.Is(err, nats.ErrMaxPayload) {
			return err
		}
		time.Sleep(wait)
	}
}

// heartbeat tells the server the task is in progress every period until stop is closed.
func heartbeat(m jetstream.Msg, period time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(max(period, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			_ = m.InProgress()
		}
	}
}

// splitItems splits a task's body into its n items' arguments; b comes from the network.
func splitItems(b []byte, n int) ([][]byte, error) {
	if n > len(b)/4 {
		return nil, fmt.Errorf("%d items in %d bytes", n, len(b))
	}
	out := make([][]byte, n)
	for i := range n {
		if len(b) < 4 {
			return nil, fmt.Errorf("item %d truncated", i)
		}
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return nil, fmt.Errorf("item %d of %d bytes, %d left", i, l, len(b))
		}
		out[i] = b[:l]
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after %d items", len(b), n)
	}
	return out, nil
}
