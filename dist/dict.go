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

var (
	// ErrDict is matched by the errors of a Dict's calls that the server refused.
	ErrDict = errors.New("dist: dict")
	// ErrNotFound is matched by the error of Get for a key the Dict does not hold.
	ErrNotFound = errors.New("dist: key not found")
)

// A Dict is a distributed map from string to V on a JetStream KV bucket. Any string is a key:
// keys are encoded into NATS's key alphabet (base64url behind a prefix).
type Dict[V any] struct {
	kv jetstream.KeyValue
}

// dictOpTimeout bounds each request of a Dict's calls to the server.
const dictOpTimeout = 10 * time.Second

// NewDict opens the dict name, creating its bucket on first use.
func NewDict[V any](c *Conn, name string) (*Dict[V], error) {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrDict, name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dictOpTimeout)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("%w %q: create bucket: %v", ErrDict, name, err)
	}
	return &Dict[V]{kv: kv}, nil
}

func encodeKey(k string) string { return "k" + base64.RawURLEncoding.EncodeToString([]byte(k)) }

// Get returns the value of key, or an error matching ErrNotFound.
func (d *Dict[V]) Get(key string) (V, error) {
	v, _, err := d.get(key)
	return v, err
}

func (d *Dict[V]) get(key string) (V, uint64, error) {
	var v V
	ctx, cancel := context.WithTimeout(context.Background(), dictOpTimeout)
	defer cancel()
	e, err := d.kv.Get(ctx, encodeKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return v, 0, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	if err != nil {
		return v, 0, fmt.Errorf("%w: Get %q: %v", ErrDict, key, err)
	}
	if err := codec.For[V]().Decode(e.Value(), &v); err != nil {
		return v, 0, fmt.Errorf("%w: Get %q: %v", ErrDict, key, err)
	}
	return v, e.Revision(), nil
}

// Set stores v under key.
func (d *Dict[V]) Set(key string, v V) error {
	b, err := codec.For[V]().Append(nil, &v)
	if err != nil {
		return fmt.Errorf("%w: Set %q: %v", ErrDict, key, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dictOpTimeout)
	defer cancel()
	if _, err := d.kv.Put(ctx, encodeKey(key), b); err != nil {
		return fmt.Errorf("%w: Set %q: %v", ErrDict, key, err)
	}
	return nil
}

// Delete removes key; deleting a key that is not there is not an error.
func (d *Dict[V]) Delete(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dictOpTimeout)
	defer cancel()
	if err := d.kv.Delete(ctx, encodeKey(key)); err != nil {
		return fmt.Errorf("%w: Delete %q: %v", ErrDict, key, err)
	}
	return nil
}

// Update replaces the value of key by fn(old, found) atomically against every other writer:
// it compares and sets on the key's revision, calling fn again when another writer got there
// first. fn must not have side effects beyond its result.
func (d *Dict[V]) Update(key string, fn func(old V, found bool) (V, error)) (V, error) {
	for {
		old, rev, err := d.get(key)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return old, err
		}
		nv, err := fn(old, found)
		if err != nil {
			return nv, err
		}
		b, err := codec.For[V]().Append(nil, &nv)
		if err != nil {
			return nv, fmt.Errorf("%w: Update %q: %v", ErrDict, key, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), dictOpTimeout)
		if found {
			_, err = d.kv.Update(ctx, encodeKey(key), b, rev)
		} else {
			_, err = d.kv.Create(ctx, encodeKey(key), b)
		}
		cancel()
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
		return nv, fmt.Errorf("%w: Update %q: %v", ErrDict, key, err)
	}
}

// A Change is one update seen by Watch: a key set to Value, or deleted.
type Change[V any] struct {
	Key     string
	Value   V
	Deleted bool
}

// Watch sends every change made to the dict after the call, in order, until ctx ends; the
// channel is then closed. A value that does not decode is skipped.
func (d *Dict[V]) Watch(ctx context.Context) (<-chan Change[V], error) {
	w, err := d.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("%w: Watch: %v", ErrDict, err)
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
