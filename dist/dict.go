package dist

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shmkit/internal/codec"
)

// A Dict is a distributed map from string to V on a JetStream KV bucket. Any string is a key:
// keys are encoded into NATS's key alphabet (base64url behind a prefix). Each write is stored
// by the server (on a cluster, by a majority of the bucket's replicas) before it returns; a
// read sees every write that returned before it began.
type Dict[V any] struct {
	kv   jetstream.KeyValue
	c    *Conn
	name string
}

// NewDict opens the dict name ([A-Za-z0-9_-]), creating its bucket on first use, waiting for
// the server as long as it takes.
func NewDict[V any](c *Conn, name string) (*Dict[V], error) {
	return newDict[V](context.Background(), c, name, Forever)
}

// NewDictTimeout is NewDict bounded by timeout.
func NewDictTimeout[V any](c *Conn, name string, timeout time.Duration) (*Dict[V], error) {
	return newDict[V](context.Background(), c, name, timeout)
}

// NewDictContext is NewDict bounded by ctx.
func NewDictContext[V any](ctx context.Context, c *Conn, name string) (*Dict[V], error) {
	return newDict[V](ctx, c, name, Forever)
}

func newDict[V any](ctx context.Context, c *Conn, name string, timeout time.Duration) (*Dict[V], error) {
	if err := checkName("dict", name); err != nil {
		return nil, err
	}
	const op = "dist: NewDict"
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		return nil, err
	}
	defer cancel()
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, classify(ctx, op+" "+name, timeout, err)
	}
	return &Dict[V]{kv: kv, c: c, name: name}, nil
}

func encodeKey(k string) string { return "k" + base64.RawURLEncoding.EncodeToString([]byte(k)) }

// Get returns the value of key, or an error matching ErrNotFound, waiting for the server as
// long as it takes.
func (d *Dict[V]) Get(key string) (V, error) { return d.GetContext(context.Background(), key) }

// GetTimeout is Get bounded by timeout.
func (d *Dict[V]) GetTimeout(key string, timeout time.Duration) (V, error) {
	v, _, err := d.get(context.Background(), key, timeout)
	return v, err
}

// GetContext is Get bounded by ctx.
func (d *Dict[V]) GetContext(ctx context.Context, key string) (V, error) {
	v, _, err := d.get(ctx, key, Forever)
	return v, err
}

func (d *Dict[V]) get(ctx context.Context, key string, timeout time.Duration) (V, uint64, error) {
	var v V
	const op = "dist: Dict.Get"
	if err := d.c.closed(op); err != nil {
		return v, 0, err
	}
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		return v, 0, err
	}
	defer cancel()
	e, err := d.kv.Get(ctx, encodeKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return v, 0, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if err != nil {
		return v, 0, classify(ctx, fmt.Sprintf("%s %q", op, key), timeout, err)
	}
	if err := codec.For[V]().Decode(e.Value(), &v); err != nil {
		return v, 0, fmt.Errorf("%w: Get %q: %v", ErrCorrupt, key, err)
	}
	return v, e.Revision(), nil
}

// Set stores v under key, waiting for the server as long as it takes. A value the codec
// cannot encode is ErrBadArgs, and nothing is sent.
func (d *Dict[V]) Set(key string, v V) error { return d.set(context.Background(), key, v, Forever) }

// SetTimeout is Set bounded by timeout.
func (d *Dict[V]) SetTimeout(key string, v V, timeout time.Duration) error {
	return d.set(context.Background(), key, v, timeout)
}

// SetContext is Set bounded by ctx.
func (d *Dict[V]) SetContext(ctx context.Context, key string, v V) error {
	return d.set(ctx, key, v, Forever)
}

func (d *Dict[V]) set(ctx context.Context, key string, v V, timeout time.Duration) error {
	const op = "dist: Dict.Set"
	if err := d.c.closed(op); err != nil {
		return err
	}
	b, err := codec.For[V]().Append(nil, &v)
	if err != nil {
		return fmt.Errorf("%w: Set %q: %v", ErrBadArgs, key, err)
	}
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := d.kv.Put(ctx, encodeKey(key), b); err != nil {
		return classify(ctx, fmt.Sprintf("%s %q", op, key), timeout, err)
	}
	return nil
}

// Delete removes key, waiting for the server as long as it takes; deleting a key that is not
// there is not an error.
func (d *Dict[V]) Delete(key string) error { return d.del(context.Background(), key, Forever) }

// DeleteTimeout is Delete bounded by timeout.
func (d *Dict[V]) DeleteTimeout(key string, timeout time.Duration) error {
	return d.del(context.Background(), key, timeout)
}

// DeleteContext is Delete bounded by ctx.
func (d *Dict[V]) DeleteContext(ctx context.Context, key string) error {
	return d.del(ctx, key, Forever)
}

func (d *Dict[V]) del(ctx context.Context, key string, timeout time.Duration) error {
	const op = "dist: Dict.Delete"
	if err := d.c.closed(op); err != nil {
		return err
	}
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		return err
	}
	defer cancel()
	if err := d.kv.Delete(ctx, encodeKey(key)); err != nil {
		return classify(ctx, fmt.Sprintf("%s %q", op, key), timeout, err)
	}
	return nil
}

// Update replaces the value of key by fn(old, found) atomically against every other writer:
// it compares and sets on the key's revision, calling fn again when another writer got there
// first. fn must not have side effects beyond its result. It waits for the server as long as
// it takes; when a bound passes (UpdateTimeout, UpdateContext) the write may or may not have
// been stored, as with any request whose reply did not come.
func (d *Dict[V]) Update(key string, fn func(old V, found bool) (V, error)) (V, error) {
	return d.update(context.Background(), key, fn, Forever)
}

// UpdateTimeout is Update bounded by timeout, the retries included.
func (d *Dict[V]) UpdateTimeout(key string, fn func(old V, found bool) (V, error), timeout time.Duration) (V, error) {
	return d.update(context.Background(), key, fn, timeout)
}

// UpdateContext is Update bounded by ctx.
func (d *Dict[V]) UpdateContext(ctx context.Context, key string, fn func(old V, found bool) (V, error)) (V, error) {
	return d.update(ctx, key, fn, Forever)
}

func (d *Dict[V]) update(ctx context.Context, key string, fn func(old V, found bool) (V, error), timeout time.Duration) (V, error) {
	const op = "dist: Dict.Update"
	if err := d.c.closed(op); err != nil {
		return *new(V), err
	}
	ctx, cancel, err := bound(ctx, op, timeout)
	if err != nil {
		var zero V
		return zero, err
	}
	defer cancel()
	for {
		old, rev, err := d.get(ctx, key, Forever)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			if ctx.Err() != nil {
				return old, classify(ctx, fmt.Sprintf("%s %q", op, key), timeout, ctx.Err())
			}
			return old, err
		}
		nv, err := fn(old, found)
		if err != nil {
			return nv, err
		}
		b, err := codec.For[V]().Append(nil, &nv)
		if err != nil {
			return nv, fmt.Errorf("%w: Update %q: %v", ErrBadArgs, key, err)
		}
		if found {
			_, err = d.kv.Update(ctx, encodeKey(key), b, rev)
		} else {
			_, err = d.kv.Create(ctx, encodeKey(key), b)
		}
		if err == nil {
			return nv, nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			continue // another writer won: read again
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		return nv, classify(ctx, fmt.Sprintf("%s %q", op, key), timeout, err)
	}
}

// A Change is one update seen by Watch: a key set to Value, or deleted.
type Change[V any] struct {
	Key     string
	Value   V
	Deleted bool
}

// Watch sends the changes made to the dict after the call, in order, until ctx ends; the
// channel is then closed. The bucket keeps one value per key, so a value replaced (or deleted)
// before the watch read it is skipped: a key's last change is always sent, not every one on
// the way. A value that does not decode is skipped. The watch is set up within
// ctx (or the connection's reconnections); it does not wait beyond. It starts after the
// bucket's last revision at the call (not at "new messages", which a consumer reset under
// load would move past changes not yet seen).
func (d *Dict[V]) Watch(ctx context.Context) (<-chan Change[V], error) {
	st, err := d.c.js.Stream(ctx, "KV_"+d.name)
	if err != nil {
		return nil, classify(ctx, "dist: Dict.Watch", Forever, err)
	}
	w, err := d.kv.WatchAll(ctx, jetstream.IncludeHistory(), jetstream.ResumeFromRevision(st.CachedInfo().State.LastSeq+1))
	if err != nil {
		return nil, classify(ctx, "dist: Dict.Watch", Forever, err)
	}
	out := make(chan Change[V])
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				if len(e.Key()) < 1 {
					continue
				}
				raw, err := base64.RawURLEncoding.DecodeString(e.Key()[1:])
				if err != nil {
					continue
				}
				ch := Change[V]{Key: string(raw), Deleted: e.Operation() != jetstream.KeyValuePut}
				if !ch.Deleted && codec.For[V]().Decode(e.Value(), &ch.Value) != nil {
					continue
				}
				select {
				case out <- ch:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
