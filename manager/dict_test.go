package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func newDict[K, V any](t testing.TB) *manager.Dict[K, V] {
	t.Helper()
	d, err := manager.NewDict[K, V]()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Free()) })
	return d
}

func TestDictBasics(t *testing.T) {
	d := newDict[string, int](t)
	v, ok, err := d.Get("a")
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, v)

	require.NoError(t, d.Set("a", 1))
	require.NoError(t, d.Set("b", 2))
	require.NoError(t, d.Set("a", 3))
	v, ok, err = d.Get("a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 3, v)
	require.Equal(t, 2, d.Len())
	has, err := d.Contains("b")
	require.NoError(t, err)
	require.True(t, has)

	removed, err := d.Delete("b")
	require.NoError(t, err)
	require.True(t, removed)
	removed, err = d.Delete("b")
	require.NoError(t, err)
	require.False(t, removed)
	require.Equal(t, 1, d.Len())

	got, err := d.SetDefault("c", 7)
	require.NoError(t, err)
	require.Equal(t, 7, got)
	got, err = d.SetDefault("c", 8)
	require.NoError(t, err)
	require.Equal(t, 7, got)

	n, err := d.Update("n", func(old int, ok bool) int {
		require.False(t, ok)
		return old + 5
	})
	require.NoError(t, err)
	require.Equal(t, 5, n)
	n, err = d.Update("n", func(old int, ok bool) int { return old * 2 })
	require.NoError(t, err)
	require.Equal(t, 10, n)

	p, ok, err := d.Pop("c")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 7, p)
	_, ok, err = d.Pop("c")
	require.NoError(t, err)
	require.False(t, ok)

	items, err := d.Items()
	require.NoError(t, err)
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	require.Equal(t, []manager.Item[string, int]{{Key: "a", Value: 3}, {Key: "n", Value: 10}}, items)
	keys, err := d.Keys()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a", "n"}, keys)

	require.NoError(t, d.Clear())
	require.Equal(t, 0, d.Len())
	_, ok, err = d.Get("a")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, d.Set("a", 1))
	require.Equal(t, 1, d.Len())
}

// A value of any type the codec handles, and raw fixed-size keys and values.
func TestDictTypes(t *testing.T) {
	type point struct{ X, Y float64 }
	type rec struct {
		Name string
		Tags []string
		M    map[string]int
	}
	d := newDict[point, rec](t)
	r := rec{Name: "x", Tags: []string{"a", "b"}, M: map[string]int{"k": 1}}
	require.NoError(t, d.Set(point{1, 2}, r))
	got, ok, err := d.Get(point{1, 2})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, r, got)

	raw := newDict[uint64, [4]int64](t)
	for i := range uint64(100) {
		require.NoError(t, raw.Set(i, [4]int64{int64(i), int64(i), int64(i), int64(i)}))
	}
	for i := range uint64(100) {
		v, ok, err := raw.Get(i)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, [4]int64{int64(i), int64(i), int64(i), int64(i)}, v)
	}
	allocs := testing.AllocsPerRun(100, func() {
		raw.Get(42)
		raw.Set(42, [4]int64{1, 2, 3, 4})
	})
	require.Zero(t, allocs, "raw keys and values must not allocate")

	// A value the codec cannot encode is refused, and the Dict stays usable.
	bad := newDict[string, any](t)
	err = bad.Set("ch", make(chan int))
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.NoError(t, bad.Set("ok", "fine"))
	require.Equal(t, 1, bad.Len())
}

func TestDictOpenChecks(t *testing.T) {
	d := newDict[string, int](t)
	o, err := manager.OpenDict[string, int](d.Ref())
	require.NoError(t, err)
	require.NoError(t, d.Set("x", 1))
	v, ok, err := o.Get("x")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, v)
	require.NoError(t, o.Close())
	_, _, err = o.Get("x")
	require.ErrorIs(t, err, manager.ErrClosed)

	_, err = manager.OpenDict[int, int](d.Ref())
	require.ErrorIs(t, err, manager.ErrMismatch)
	ref := d.Ref()
	ref.Kind = shm.Kind(12345)
	_, err = manager.OpenDict[string, int](ref)
	require.ErrorIs(t, err, shm.ErrBadRef)
}

// Growth from one entry to a million, in one process, then every key read back.
func TestDictGrowth(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 50_000
	}
	d := newDict[uint64, uint64](t)
	for i := range uint64(n) {
		require.NoError(t, d.Set(i, i*3))
		if i%100_000 == 0 {
			require.Equal(t, int(i)+1, d.Len())
		}
	}
	require.Equal(t, n, d.Len())
	for i := range uint64(n) {
		v, ok, err := d.Get(i)
		if err != nil || !ok || v != i*3 {
			t.Fatalf("key %d: %d %v %v", i, v, ok, err)
		}
	}
	// Deleting half and setting them again reuses the freed blocks.
	for i := uint64(0); i < uint64(n); i += 2 {
		_, err := d.Delete(i)
		require.NoError(t, err)
	}
	require.Equal(t, n/2, d.Len())
	for i := uint64(0); i < uint64(n); i += 2 {
		require.NoError(t, d.Set(i, i))
	}
	require.Equal(t, n, d.Len())
}

// A full heap is an error, and the Dict stays usable; an Update whose function panics leaves the
// Dict unchanged and its lock free.
func TestDictFullHeapAndPanic(t *testing.T) {
	seg, err := shm.Create(256<<10, nil)
	require.NoError(t, err)
	defer seg.Close()
	h, err := seg.Heap()
	require.NoError(t, err)
	d, err := manager.NewDict[int, string](manager.In(h))
	require.NoError(t, err)
	big := string(make([]byte, 1000))
	n := 0
	for ; n < 10_000; n++ {
		if err = d.Set(n, big); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, shm.ErrNoSpace)
	require.Equal(t, n, d.Len())
	for i := range n {
		v, ok, err := d.Get(i)
		require.NoError(t, err)
		require.True(t, ok)
		require.Len(t, v, 1000)
	}
	_, err = d.Delete(0)
	require.NoError(t, err)
	require.NoError(t, d.Set(0, "fits again"))
	require.Equal(t, n, d.Len())

	func() {
		defer func() { require.NotNil(t, recover()) }()
		d.Update(1, func(string, bool) string { panic("in Update") })
	}()
	require.Zero(t, d.LockOwner())
	v, _, err := d.Get(1)
	require.NoError(t, err)
	require.Equal(t, big, v)
	require.NoError(t, d.Free())
}

// keysIn returns a key of d's stripe s and one of another stripe ("k<i>" for the least i).
func keysIn[V any](d *manager.Dict[string, V], s int) (same, other string) {
	for i := 0; same == "" || other == ""; i++ {
		k := fmt.Sprint("k", i)
		if got, _ := d.StripeOf(k); got == s && same == "" {
			same = k
		} else if got != s && other == "" {
			other = k
		}
	}
	return same, other
}

// The Context forms give up when their context ends while another writer holds the key's stripe
// (or, for Clear, any stripe); a write of a key in another stripe goes on meanwhile.
func TestDictContext(t *testing.T) {
	d := newDict[string, int](t)
	s, n := d.StripeOf("k")
	require.Equal(t, 16, n)
	same, other := keysIn(d, s)
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		_, err := d.Update("k", func(int, bool) int {
			close(inside)
			<-release
			return 1
		})
		done <- err
	}()
	<-inside
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.NoError(t, d.SetContext(ctx, other, 1), "a write to another stripe waits for nothing")
	require.ErrorIs(t, d.SetContext(ctx, same, 1), context.DeadlineExceeded)
	_, err := d.DeleteContext(ctx, "k")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, d.ClearContext(ctx), context.DeadlineExceeded)
	// Reads do not wait for the writer.
	_, ok, err := d.Get("k")
	require.NoError(t, err)
	require.False(t, ok)
	close(release)
	require.NoError(t, <-done)
	v, ok, err := d.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, v)
	require.Equal(t, 2, d.Len())
}
