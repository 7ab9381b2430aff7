package manager_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
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
