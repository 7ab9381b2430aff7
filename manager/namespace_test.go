package manager_test

import (
	"fmt"

	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

var _ = proc.Register(nsChild)

type point struct{ X, Y int }

// nsChild is the Python tutorial's namespace child: it reads x, sets y, and stores a struct.
func nsChild(ns *manager.Namespace) error {
	x, ok, err := manager.Load[int](ns, "x")
	if err != nil || !ok {
		return err
	}
	if err := ns.Set("y", "hello"); err != nil {
		return err
	}
	return ns.Set("p", point{X: x, Y: x * 2})
}

func TestNamespace(t *testing.T) {
	ns, err := manager.NewNamespace()
	require.NoError(t, err)
	defer func() { require.NoError(t, ns.Free()) }()
	require.NoError(t, ns.Set("x", 10))
	p, err := proc.Start(nsChild, ns)
	require.NoError(t, err)
	joinOK(t, p)
	require.NoError(t, ns.Set("z", []any{1, 2.5, "it's", true, nil}))
	require.Equal(t, `Namespace(p={'X': 10, 'Y': 20}, x=10, y='hello', z=[1, 2.5, "it's", True, None])`, ns.String())
	pt, ok, err := manager.Load[point](ns, "p")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, point{10, 20}, pt)
	names, err := ns.Names()
	require.NoError(t, err)
	require.Equal(t, []string{"p", "x", "y", "z"}, names)
	gone, err := ns.Delete("z")
	require.NoError(t, err)
	require.True(t, gone)
	require.Equal(t, `Namespace(p={'X': 10, 'Y': 20}, x=10, y='hello')`, ns.String())
}

var _ = proc.Register(appendThroughRef)

// appendThroughRef finds a List by the Ref stored in a Dict and appends to it.
func appendThroughRef(d *manager.Dict[string, shm.Ref]) error {
	ref, ok, err := d.Get("inner")
	if err != nil || !ok {
		return fmt.Errorf("inner: %v %v", ok, err)
	}
	l, err := manager.OpenList[string](ref)
	if err != nil {
		return err
	}
	return l.Append("from the child")
}

// A value may be another shared structure's Ref: the nested structure stays shared, and a child's
// change to it is seen by the parent (Python's Manager loses such nested mutations).
func TestNestedByRef(t *testing.T) {
	d := newDict[string, shm.Ref](t)
	inner := newList[string](t)
	require.NoError(t, d.Set("inner", inner.Ref()))
	p, err := proc.Start(appendThroughRef, d)
	require.NoError(t, err)
	joinOK(t, p)
	v, err := inner.Get(0)
	require.NoError(t, err)
	require.Equal(t, "from the child", v)
}

var _ = proc.Register(useNested)

// useNested opens every shared object a Namespace holds by Ref and changes it: an inner Dict, a
// lock.Lock (taken and released), a ring queue (one message put).
func useNested(ns *manager.Namespace) error {
	ref := func(name string) (shm.Ref, error) {
		r, ok, err := manager.Load[shm.Ref](ns, name)
		if err == nil && !ok {
			err = fmt.Errorf("%s not set", name)
		}
		return r, err
	}
	r, err := ref("dict")
	if err != nil {
		return err
	}
	d, err := manager.OpenDict[string, int](r)
	if err != nil {
		return err
	}
	if _, err := d.Update("n", func(n int, _ bool) int { return n + 1 }); err != nil {
		return err
	}
	if r, err = ref("lock"); err != nil {
		return err
	}
	lk, err := lock.OpenLock(r)
	if err != nil {
		return err
	}
	if err := lk.Lock(); err != nil {
		return err
	}
	if err := lk.Unlock(); err != nil {
		return err
	}
	if r, err = ref("queue"); err != nil {
		return err
	}
	q, err := ring.OpenQueueOf[string](r)
	if err != nil {
		return err
	}
	return q.Put("from the child")
}

// Nested shared objects of every kind the issue names, stored by Ref in a Namespace: a child's
// changes through them are the parent's. A Ref of the wrong kind is refused with shm.ErrBadRef,
// never a panic.
func TestNestedKinds(t *testing.T) {
	ns, err := manager.NewNamespace()
	require.NoError(t, err)
	defer ns.Free()
	d := newDict[string, int](t)
	lk, err := lock.NewLock()
	require.NoError(t, err)
	defer lk.Free()
	q, err := ring.NewQueueOf[string](nil)
	require.NoError(t, err)
	defer q.Free()
	require.NoError(t, ns.Set("dict", d.Ref()))
	require.NoError(t, ns.Set("lock", lk.Ref()))
	require.NoError(t, ns.Set("queue", q.Ref()))
	for range 3 {
		joinOK(t, startAll(t, useNested, []any{ns})...)
	}
	n, _, err := d.Get("n")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.False(t, lk.Locked())
	require.Equal(t, 3, q.Len())

	l := newList[int](t)
	for _, open := range []func() error{
		func() error { _, err := manager.OpenDict[string, int](l.Ref()); return err },
		func() error { _, err := manager.OpenList[int](d.Ref()); return err },
		func() error { _, err := manager.OpenNamespace(lk.Ref()); return err },
		func() error { _, err := manager.OpenDict[string, int](q.Ref()); return err },
	} {
		require.ErrorIs(t, open(), shm.ErrBadRef)
	}
	// A Namespace is a Dict[string, any]: opening it as another Dict is a type mismatch.
	_, err = manager.OpenDict[string, int](ns.Ref())
	require.ErrorIs(t, err, manager.ErrMismatch)
}
