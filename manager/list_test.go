package manager_test

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(appendMany)
	_ = proc.Register(listChurn)
)

func newList[T any](t testing.TB) *manager.List[T] {
	t.Helper()
	l, err := manager.NewList[T]()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Free()) })
	return l
}

func TestListBasics(t *testing.T) {
	l := newList[string](t)
	_, err := l.Get(0)
	require.ErrorIs(t, err, manager.ErrIndex)
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		require.NoError(t, l.Append(s)) // grows past the first table of 8
	}
	require.Equal(t, 10, l.Len())
	v, err := l.Get(-1)
	require.NoError(t, err)
	require.Equal(t, "j", v)
	require.NoError(t, l.Set(1, "B"))
	require.NoError(t, l.Insert(0, "start"))
	require.NoError(t, l.Insert(100, "end"))
	require.NoError(t, l.Insert(-1, "before-end"))
	all, err := l.Slice(0, math.MaxInt)
	require.NoError(t, err)
	require.Equal(t, []string{"start", "a", "B", "c", "d", "e", "f", "g", "h", "i", "j", "before-end", "end"}, all)

	p, err := l.Pop(-1)
	require.NoError(t, err)
	require.Equal(t, "end", p)
	p, err = l.Pop(0)
	require.NoError(t, err)
	require.Equal(t, "start", p)
	p, err = l.Pop(3)
	require.NoError(t, err)
	require.Equal(t, "d", p)
	part, err := l.Slice(1, 4)
	require.NoError(t, err)
	require.Equal(t, []string{"B", "c", "e"}, part)
	part, err = l.Slice(-2, math.MaxInt)
	require.NoError(t, err)
	require.Equal(t, []string{"j", "before-end"}, part)
	_, err = l.Pop(50)
	require.ErrorIs(t, err, manager.ErrIndex)

	require.NoError(t, l.Clear())
	require.Equal(t, 0, l.Len())
	require.NoError(t, l.Append("again"))
	v, err = l.Get(0)
	require.NoError(t, err)
	require.Equal(t, "again", v)

	_, err = manager.OpenList[int](l.Ref())
	require.ErrorIs(t, err, manager.ErrMismatch)
}

func appendMany(l *manager.List[int], id, n int) error {
	for i := range n {
		if err := l.Append(id*n + i); err != nil {
			return err
		}
	}
	return nil
}

// Appends from four processes at once: every value present exactly once.
func TestListFourAppenders(t *testing.T) {
	n := 5_000
	if testing.Short() {
		n = 1_000
	}
	l := newList[int](t)
	var args [][]any
	for id := range 4 {
		args = append(args, []any{l, id, n})
	}
	joinOK(t, startAll(t, appendMany, args...)...)
	all, err := l.Slice(0, math.MaxInt)
	require.NoError(t, err)
	require.Len(t, all, 4*n)
	slices.Sort(all)
	for i, v := range all {
		require.Equal(t, i, v)
	}
}

// listChurn appends, sets, inserts and pops quads forever, to be killed; word 0 of c counts.
// With point > 0 it stops at the stop-th time a write reaches that hook point, sets word 1 of c
// and waits there to be killed (see churn).
func listChurn(l *manager.List[quad], c *testutil.Cell, seed, point, stop int) error {
	stopAt(c, point, stop)
	for n := uint64(seed); ; n++ {
		var err error
		switch ln := l.Len(); {
		case ln < 20 || n%4 == 0:
			err = l.Append(q(n))
		case n%4 == 1:
			err = l.Insert(int(n)%ln, q(n))
		case n%4 == 2:
			err = l.Set(int(n)%ln, q(n))
		default:
			_, err = l.Pop(int(n) % ln)
		}
		if err != nil {
			return err
		}
		atomic.AddUint64(c.W64(0), 1)
	}
}

// List writers SIGKILLed at random moments and at the hook points inside Append, Set, Pop and
// the table rebuilds of Insert, Pop and growth: every element stays whole, the survivor's writes
// go on, the length agrees with the elements, the lock is free.
func TestListKillWriters(t *testing.T) {
	kills := 60
	if testing.Short() {
		kills = 12
	}
	l := newList[quad](t)
	c := testutil.NewCell(t, 64)
	points := []int{0, manager.AtEntryLogged, manager.AtEntryPublished, manager.AtGrowPublished}
	all0, _, _ := manager.Repairs()
	for kill := range kills {
		point := points[kill%len(points)]
		atomic.StoreUint64(c.W64(1), 0)
		before := atomic.LoadUint64(c.W64(0))
		p, err := proc.Start(listChurn, l, c, kill*1000, point, 1+kill%3)
		require.NoError(t, err)
		require.True(t, testutil.Eventually(20*time.Second, func() bool {
			if point > 0 {
				return atomic.LoadUint64(c.W64(1)) == 1 || !p.IsAlive()
			}
			return atomic.LoadUint64(c.W64(0)) >= before+uint64(1+kill%50*37) || !p.IsAlive()
		}))
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(proc.Forever))
		if code, _ := p.ExitCode(); code != -9 {
			t.Fatalf("kill %d: child exited %d before the kill", kill, code)
		}
		require.NoError(t, l.Append(q(7)))
		require.Zero(t, l.LockOwner())
		all, err := l.Slice(0, math.MaxInt)
		require.NoError(t, err)
		require.Equal(t, len(all), l.Len())
		for i, v := range all {
			if v.A != v.B || v.B != v.C || v.C != v.D {
				t.Fatalf("kill %d: element %d torn: %+v", kill, i, v)
			}
		}
		if len(all) > 200 {
			require.NoError(t, l.Clear())
		}
	}
	all1, _, _ := manager.Repairs()
	require.GreaterOrEqual(t, all1-all0, int64(kills*3/4), "every writer stopped at a hook point held the lock")
}
