package value_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// quad is a Value too large for one word: writers keep its four fields equal, so a reader that
// sees them differ has seen a torn value.
type quad struct{ A, B, C, D int64 }

// Child targets, registered as a program must: at package level. quad needs no registration: a
// child rebuilds its *Value[quad] parameter from the target's signature (shm.Attacher).
var (
	_ = proc.Register(seedChild)
	_ = proc.Register(addMany)
	_ = proc.Register(updateQuads)
	_ = proc.Register(watchQuads)
	_ = proc.Register(holdLockForever)
	_ = proc.Register(namedChild)
)

// seedChild is the "value" example of the Python tutorials: num.value = 3.1415927 and
// arr[i] = -arr[i].
func seedChild(num *value.Value[float64], arr *value.Array[int32]) error {
	if err := num.Store(3.1415927); err != nil {
		return err
	}
	for i := range arr.Len() {
		arr.Set(i, -arr.At(i))
	}
	return nil
}

func addMany(v *value.Value[int64], n int) {
	for range n {
		value.Add(v, 1)
	}
}

func updateQuads(v *value.Value[quad], n int) error {
	for range n {
		if err := v.Update(func(q *quad) { q.A++; q.B++; q.C++; q.D++ }); err != nil {
			return err
		}
	}
	return nil
}

// watchQuads loads v until stop is set, and fails if it ever sees the fields differ. It
// publishes in seen how many loads it has made (every 1024, so the parent knows it runs) and in
// changes how many times the value it loaded changed.
func watchQuads(v *value.Value[quad], stop *value.RawValue[int32], seen, changes *value.RawValue[int64]) error {
	var last quad
	var changed int64
	for loads := int64(1); ; loads++ {
		done := stop.Load() != 0 // read before the load: the last load sees the final value
		q := v.Load()
		if q.A != q.B || q.B != q.C || q.C != q.D {
			return fmt.Errorf("torn value after %d loads: %+v", loads, q)
		}
		if q != last {
			changed++
			last = q
		}
		if done || loads%1024 == 0 {
			if err := seen.Store(loads); err != nil {
				return err
			}
		}
		if done {
			return changes.Store(changed)
		}
	}
}

func holdLockForever(v *value.Value[int64], ready *value.RawValue[int32]) error {
	if err := v.Locker().Lock(); err != nil {
		return err
	}
	if err := v.Store(41); err != nil {
		return err
	}
	if err := ready.Store(1); err != nil {
		return err
	}
	time.Sleep(time.Hour)
	return nil
}

// namedChild attaches by name, as an unrelated process would, and doubles every element.
func namedChild(name string) error {
	arr, err := value.OpenNamedArray[float64](name)
	if err != nil {
		return err
	}
	defer arr.Close()
	return arr.Update(func(s []float64) {
		for i := range s {
			s[i] *= 2
		}
	})
}

// start starts a child that is killed and reaped when the test ends with it still running.
var start = testutil.Start

func join(t *testing.T, p *proc.Process) {
	t.Helper()
	testutil.WaitOK(t, p)
}

func TestSeedExample(t *testing.T) {
	num, err := value.NewValue(0.0)
	require.NoError(t, err)
	defer num.Free()
	arr, err := value.NewArrayFrom([]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	require.NoError(t, err)
	defer arr.Free()

	join(t, start(t, seedChild, num, arr))

	require.Equal(t, 3.1415927, num.Load())
	require.Equal(t, []int32{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}, arr.Slice())
	require.Equal(t, "3.1415927 [0 -1 -2 -3 -4 -5 -6 -7 -8 -9]", fmt.Sprint(num.Load(), arr.Slice()))
}

func TestAddTwoProcesses(t *testing.T) {
	const n = 100_000
	v, err := value.NewValue[int64](0)
	require.NoError(t, err)
	defer v.Free()
	p1 := start(t, addMany, v, n)
	p2 := start(t, addMany, v, n)
	join(t, p1)
	join(t, p2)
	require.Equal(t, int64(2*n), v.Load())
}

func TestStructNeverTorn(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	v, err := value.NewValue(quad{})
	require.NoError(t, err)
	defer v.Free()
	stop, err := value.NewRawValue[int32](0)
	require.NoError(t, err)
	defer stop.Free()
	seen, err := value.NewRawValue[int64](0)
	require.NoError(t, err)
	defer seen.Free()
	changes, err := value.NewRawValue[int64](0)
	require.NoError(t, err)
	defer changes.Free()

	watcher := start(t, watchQuads, v, stop, seen, changes)
	require.True(t, testutil.Eventually(30*time.Second, func() bool { return seen.Load() > 0 }), "the watcher never ran")
	w1 := start(t, updateQuads, v, n)
	w2 := start(t, updateQuads, v, n)
	// This process writes too while they run, with Store and Swap (which do not take the user
	// lock), and checks what it loads.
	stores := 0
	for w1.IsAlive() || w2.IsAlive() {
		q := v.Load()
		require.Equal(t, quad{q.A, q.A, q.A, q.A}, q)
		if stores%2 == 0 {
			require.NoError(t, v.Store(q)) // may undo a concurrent Update: both are k,k,k,k
		} else {
			old, err := v.Swap(q)
			require.NoError(t, err)
			require.Equal(t, quad{old.A, old.A, old.A, old.A}, old)
		}
		stores++
	}
	join(t, w1)
	join(t, w2)
	require.NoError(t, stop.Store(1))
	join(t, watcher)

	q := v.Load()
	require.Equal(t, quad{q.A, q.A, q.A, q.A}, q)
	require.LessOrEqual(t, q.A, int64(2*n))
	require.Greater(t, changes.Load(), int64(0), "the watcher never saw the value change")
	t.Logf("final %+v; %d stores and swaps here; the watcher made %d loads and saw %d different values",
		q, stores, seen.Load(), changes.Load())
}

func TestStructUpdatesExact(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	v, err := value.NewValue(quad{})
	require.NoError(t, err)
	defer v.Free()
	w1 := start(t, updateQuads, v, n)
	w2 := start(t, updateQuads, v, n)
	join(t, w1)
	join(t, w2)
	require.Equal(t, quad{int64(2 * n), int64(2 * n), int64(2 * n), int64(2 * n)}, v.Load())
}

// killWhenReady SIGKILLs p once it has stored 1 in ready (by then it holds a lock it never
// releases) and waits for it to be gone.
func killWhenReady(t *testing.T, p *proc.Process, ready *value.RawValue[int32]) {
	require.True(t, testutil.Eventually(30*time.Second, func() bool { return ready.Load() == 1 }))
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(30*time.Second))
}

func TestUpdateAfterOwnerDied(t *testing.T) {
	v, err := value.NewValue[int64](0)
	require.NoError(t, err)
	defer v.Free()
	ready, err := value.NewRawValue[int32](0)
	require.NoError(t, err)
	defer ready.Free()
	p := start(t, holdLockForever, v, ready)
	killWhenReady(t, p, ready)

	err = v.Update(func(x *int64) { *x++ })
	require.ErrorIs(t, err, lock.ErrOwnerDead)
	require.Equal(t, int64(42), v.Load(), "the update applies even when the previous owner died")
	require.NoError(t, v.Update(func(x *int64) { *x++ }), "the lock is clean again")
	require.Equal(t, int64(43), v.Load())
}

func TestNamedArrayAcrossProcesses(t *testing.T) {
	name := testutil.ShmName(t)
	arr, err := value.NewNamedArray[float64](name, 1000, nil)
	require.NoError(t, err)
	defer arr.Close()
	for i := range arr.Len() {
		arr.Set(i, float64(i)+0.5)
	}
	join(t, start(t, namedChild, name))
	for i := range arr.Len() {
		require.Equal(t, 2*(float64(i)+0.5), arr.At(i))
	}
	// The Ref of a named Array works too: the child opens the segment by the name in it.
	join(t, start(t, seedChildNamed, arr))
	require.Equal(t, -2*0.5, arr.At(0))
}

var _ = proc.Register(seedChildNamed)

func seedChildNamed(arr *value.Array[float64]) {
	for i := range arr.Len() {
		arr.Set(i, -arr.At(i))
	}
}

var _ = proc.Register(holdArrayLockForever)

func holdArrayLockForever(arr *value.Array[int32], ready *value.RawValue[int32]) error {
	if err := arr.Locker().Lock(); err != nil {
		return err
	}
	arr.Slice()[0] = 99 // half of a two-element invariant
	if err := ready.Store(1); err != nil {
		return err
	}
	time.Sleep(time.Hour)
	return nil
}

func TestArrayUpdateAfterOwnerDied(t *testing.T) {
	arr, err := value.NewArray[int32](2)
	require.NoError(t, err)
	defer arr.Free()
	ready, err := value.NewRawValue[int32](0)
	require.NoError(t, err)
	defer ready.Free()
	p := start(t, holdArrayLockForever, arr, ready)
	killWhenReady(t, p, ready)

	var saw []int32
	err = arr.Update(func(s []int32) {
		saw = append(saw, s...)
		s[1] = s[0] // repair
	})
	require.ErrorIs(t, err, lock.ErrOwnerDead)
	require.Equal(t, []int32{99, 0}, saw)
	require.Equal(t, []int32{99, 99}, arr.Slice())
}

// big takes long enough to copy (4 KiB) that a SIGKILL often lands in the middle of a Store.
type big [512]int64

var _ = proc.Register(storeForever)

func storeForever(v *value.Value[big], ready *value.RawValue[int32]) error {
	var x big
	for k := int64(1); ; k++ {
		for i := range x {
			x[i] = k
		}
		if err := v.Store(x); err != nil {
			return err
		}
		if k == 1 {
			if err := ready.Store(1); err != nil {
				return err
			}
		}
	}
}

// TestWriterKilledMidStore: a process killed while it Stores a large Value (likely while it
// holds the write lock, half-way through a slot) leaves the Value whole, and the next Store
// takes the write lock over.
func TestWriterKilledMidStore(t *testing.T) {
	v, err := value.NewValue(big{})
	require.NoError(t, err)
	defer v.Free()
	held := 0
	for round := range 5 {
		ready, err := value.NewRawValue[int32](0)
		require.NoError(t, err)
		p := start(t, storeForever, v, ready)
		require.True(t, testutil.Eventually(30*time.Second, func() bool { return ready.Load() == 1 }))
		time.Sleep(time.Duration(1+round) * time.Millisecond)
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(30*time.Second))
		require.NoError(t, ready.Free())
		if value.WriteLockOwner(v) == p.Pid() {
			held++
		}

		x := v.Load()
		for i := range x {
			require.Equal(t, x[0], x[i], "round %d: torn at element %d", round, i)
		}
		require.Greater(t, x[0], int64(0))
		var y big
		y[0], y[511] = -1, -1
		require.NoError(t, v.Store(y), "the write lock is taken over from the dead writer")
		require.Equal(t, y, v.Load())
		t.Logf("round %d: the child had stored %d values; its last one is whole", round, x[0])
	}
	t.Logf("%d of 5 kills landed while the child held the write lock", held)
}
