package manager_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

var _ = proc.Register(setSeries)

// setSeries sets key to 1..n, then to -1.
func setSeries(d *manager.Dict[string, int], key string, n int) error {
	for i := 1; i <= n; i++ {
		if err := d.Set(key, i); err != nil {
			return err
		}
	}
	return d.Set(key, -1)
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		require.True(t, ok, "channel closed")
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no change delivered in 10 s")
	}
	panic("unreachable")
}

// A Watch in the parent sees a child's writes: the values in increasing order (states may be
// coalesced), ending with the last; then a deletion; the whole-dict form sees versions go up.
func TestWatchAcrossProcesses(t *testing.T) {
	d := newDict[string, int](t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := d.Watch(ctx, "k")
	require.NoError(t, err)
	all, err := d.WatchAll(ctx)
	require.NoError(t, err)
	require.NoError(t, d.Set("other", 1)) // not k: no Change on ch
	v0 := recv(t, all)

	p, err := proc.Start(setSeries, d, "k", 200)
	require.NoError(t, err)
	last := 0
	for {
		c := recv(t, ch)
		require.NoError(t, c.Err)
		require.False(t, c.Deleted)
		if c.Value == -1 {
			break
		}
		require.Greater(t, c.Value, last, "changes go forward")
		last = c.Value
	}
	require.LessOrEqual(t, last, 200)
	joinOK(t, p)
	_, err = d.Delete("k")
	require.NoError(t, err)
	require.True(t, recv(t, ch).Deleted)
	v1 := recv(t, all)
	require.Greater(t, v1, v0)

	cancel()
	for range ch { // closed once the context ends
	}
	for range all {
	}
}

// Closing the handle ends its watches; a Watch of a closed handle fails.
func TestWatchClose(t *testing.T) {
	d := newDict[string, int](t)
	o, err := manager.OpenDict[string, int](d.Ref())
	require.NoError(t, err)
	ch, err := o.Watch(context.Background(), "x")
	require.NoError(t, err)
	require.NoError(t, d.Set("x", 5))
	c := recv(t, ch)
	require.Equal(t, 5, c.Value)
	require.NoError(t, o.Close())
	for range ch {
	}
	_, err = o.Watch(context.Background(), "x")
	require.ErrorIs(t, err, manager.ErrClosed)
}

// A prefix Watch sees the keys under its prefix that other processes set, in increasing states,
// and their deletion, and nothing of other keys; a whole-Dict WatchKeys sees every key.
func TestWatchPrefixAcrossProcesses(t *testing.T) {
	d := newDict[string, int](t)
	require.NoError(t, d.Set("a/before", 1)) // present before the watch: not delivered
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pre, err := manager.WatchPrefix(ctx, d, "a/")
	require.NoError(t, err)
	all, err := d.WatchKeys(ctx, func(string) bool { return true })
	require.NoError(t, err)

	ps := startAll(t, setSeries, []any{d, "b/y", 100}, []any{d, "a/x", 100})
	last := 0
	for last != -1 {
		c := recv(t, pre)
		require.NoError(t, c.Err)
		require.Equal(t, "a/x", c.Key, "only keys under the prefix")
		require.False(t, c.Deleted)
		if c.Value != -1 {
			require.Greater(t, c.Value, last, "changes go forward")
		}
		last = c.Value
	}
	joinOK(t, ps...)
	_, err = d.Delete("a/before")
	require.NoError(t, err)
	c := recv(t, pre)
	require.Equal(t, manager.KeyChange[string, int]{Key: "a/before", Deleted: true}, c)

	seen := map[string]int{}
	for len(seen) < 3 || seen["a/x"] != -1 || seen["b/y"] != -1 {
		c := recv(t, all)
		require.NoError(t, c.Err)
		if c.Deleted {
			seen[c.Key] = 0
		} else {
			seen[c.Key] = c.Value
		}
	}
	require.Equal(t, map[string]int{"a/x": -1, "b/y": -1, "a/before": 0}, seen)
	cancel()
	for range pre {
	}
	for range all {
	}
}

// Free (and Close) return only once the handle's watch goroutines have stopped: a watcher that
// unregistered late used to decrement the watcher count of whatever structure reused the freed
// header, so that writers to that one skipped the wake and its watcher never woke (the hang the
// Watch benchmark showed). Each round frees a watched Dict, makes another (often in the same
// blocks) and needs its watcher woken by a write.
func TestWatchEndsBeforeFreeReturns(t *testing.T) {
	for round := range 200 {
		d, err := manager.NewDict[string, int]()
		require.NoError(t, err)
		ch, err := d.Watch(context.Background(), "k")
		require.NoError(t, err)
		all, err := d.WatchAll(context.Background())
		require.NoError(t, err)
		keys, err := manager.WatchPrefix(context.Background(), d, "")
		require.NoError(t, err)
		require.NoError(t, d.Free())
		select {
		case _, ok := <-ch:
			require.False(t, ok, "round %d: a change after Free", round)
		default:
			t.Fatalf("round %d: Watch's channel still open after Free returned", round)
		}
		_, ok := <-all
		require.False(t, ok)
		_, ok = <-keys
		require.False(t, ok)

		d2, err := manager.NewDict[string, int]()
		require.NoError(t, err)
		ch2, err := d2.Watch(context.Background(), "k")
		require.NoError(t, err)
		go d2.Set("k", round)
		require.Equal(t, round, recv(t, ch2).Value, "round %d", round)
		require.NoError(t, d2.Free())
	}
	d, err := manager.NewDict[string, int]()
	require.NoError(t, err)
	require.NoError(t, d.Close())
	_, err = d.Watch(context.Background(), "k")
	require.ErrorIs(t, err, manager.ErrClosed)
}

// A List's Watch sees a child's appends: versions that go up until the List holds all of them,
// and the Pop after; Close ends it.
func TestListWatchAcrossProcesses(t *testing.T) {
	l := newList[int](t)
	o, err := manager.OpenList[int](l.Ref())
	require.NoError(t, err)
	ch, err := o.Watch(context.Background())
	require.NoError(t, err)
	p, err := proc.Start(appendMany, l, 0, 300)
	require.NoError(t, err)
	var last uint64
	for l.Len() < 300 {
		v := recv(t, ch)
		require.Greater(t, v, last, "versions go up")
		last = v
	}
	joinOK(t, p)
	_, err = l.Pop(-1)
	require.NoError(t, err)
	require.Greater(t, recv(t, ch), last, "the Pop after the appends is seen")
	require.NoError(t, o.Close())
	for range ch { // closed by Close
	}
	_, err = o.Watch(context.Background())
	require.ErrorIs(t, err, manager.ErrClosed)
}

var _ = proc.Register(nsSetSeries)

// nsSetSeries sets attributes name/1..n of ns, then deletes name/1.
func nsSetSeries(ns *manager.Namespace, name string, n int) error {
	for i := 1; i <= n; i++ {
		if err := ns.Set(fmt.Sprintf("%s/%d", name, i), i); err != nil {
			return err
		}
	}
	_, err := ns.Delete(name + "/1")
	return err
}

// A Namespace's WatchPrefix sees only the attributes under its prefix that children set, and the
// deletion (states are coalesced: a/1, set and deleted, may be seen in neither state, but once
// seen set it is seen deleted); WatchAll sees every attribute.
func TestNamespaceWatchAcrossProcesses(t *testing.T) {
	ns, err := manager.NewNamespace()
	require.NoError(t, err)
	defer func() { require.NoError(t, ns.Free()) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pre, err := ns.WatchPrefix(ctx, "a/")
	require.NoError(t, err)
	all, err := ns.WatchAll(ctx)
	require.NoError(t, err)
	ps := startAll(t, nsSetSeries, []any{ns, "a", 20}, []any{ns, "b", 20})

	// done reports whether seen holds the final state of the attributes under each prefix.
	done := func(seen map[string]any, prefixes ...string) bool {
		for _, p := range prefixes {
			for i := 2; i <= 20; i++ {
				if v, ok := seen[fmt.Sprintf("%s/%d", p, i)].(int64); !ok || v != int64(i) {
					return false
				}
			}
			if v, ok := seen[p+"/1"]; ok && v != nil {
				return false // seen set: its deletion is due
			}
		}
		return true
	}
	collect := func(ch <-chan manager.KeyChange[string, any], prefix string, prefixes ...string) {
		seen := map[string]any{}
		for !done(seen, prefixes...) {
			c := recv(t, ch)
			require.NoError(t, c.Err)
			require.True(t, strings.HasPrefix(c.Key, prefix), "only attributes under %q: %q", prefix, c.Key)
			seen[c.Key] = c.Value
			if c.Deleted {
				seen[c.Key] = nil
			}
		}
	}
	collect(pre, "a/", "a")
	collect(all, "", "a", "b")
	joinOK(t, ps...)
	cancel()
	for range pre {
	}
	for range all {
	}
}
