package value_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/value"
)

var (
	_ = proc.Register(addAtMany8)
	_ = proc.Register(addAtMany16)
	_ = proc.Register(addAtMany32)
	_ = proc.Register(addAtMany64)
)

// addAtMany adds 1 to every element of a, rounds times, without a lock. Neighbouring 1- and
// 2-byte elements share a word, so a lost update of any of them shows in the final counts.
func addAtMany[T value.Integer](a *value.Array[T], rounds int) error {
	for range rounds {
		for i := range a.Len() {
			if _, err := value.AddAt(a, i, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func addAtMany8(a *value.Array[int8], rounds int) error    { return addAtMany(a, rounds) }
func addAtMany16(a *value.Array[uint16], rounds int) error { return addAtMany(a, rounds) }
func addAtMany32(a *value.Array[int32], rounds int) error  { return addAtMany(a, rounds) }
func addAtMany64(a *value.Array[uint64], rounds int) error { return addAtMany(a, rounds) }

// Two processes add to every element of an Array at once, with no lock: every count is exact.
// (Python needs `with arr.get_lock(): arr[i] += 1`.)
func TestAddAtAcrossProcesses(t *testing.T) {
	const rounds = 100_000
	t.Run("int8", func(t *testing.T) { addAtBoth(t, addAtMany8, int8(0), rounds) })
	t.Run("uint16", func(t *testing.T) { addAtBoth(t, addAtMany16, uint16(0), rounds) })
	t.Run("int32", func(t *testing.T) { addAtBoth(t, addAtMany32, int32(0), rounds) })
	t.Run("uint64", func(t *testing.T) { addAtBoth(t, addAtMany64, uint64(0), rounds) })
}

func addAtBoth[T value.Integer](t *testing.T, target func(*value.Array[T], int) error, _ T, rounds int) {
	a, err := value.NewArray[T](7) // odd, so 1- and 2-byte elements end mid-word
	require.NoError(t, err)
	defer a.Free()
	p1 := start(t, target, a, rounds)
	p2 := start(t, target, a, rounds)
	join(t, p1)
	join(t, p2)
	for i := range a.Len() {
		require.Equal(t, T(2*rounds), a.At(i), "element %d", i) // T(200000) wraps for int8 and uint16, as the adds do
	}
}

func TestElementCompareAndSwap(t *testing.T) {
	a, err := value.NewArrayFrom([]int16{1, 2, 3})
	require.NoError(t, err)
	defer a.Free()
	ok, err := a.CompareAndSwap(1, 9, 20)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = a.CompareAndSwap(1, 2, 20)
	require.NoError(t, err)
	require.True(t, ok)
	old, err := a.Swap(2, -3)
	require.NoError(t, err)
	require.Equal(t, int16(3), old)
	require.Equal(t, []int16{1, 20, -3}, a.Slice(), "neighbours untouched")
	n, err := value.AddAt(a, 0, -5)
	require.NoError(t, err)
	require.Equal(t, int16(-4), n)

	b, err := value.NewRawArray[bool](5)
	require.NoError(t, err)
	defer b.Free()
	ok, err = b.CompareAndSwap(3, false, true)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []bool{false, false, false, true, false}, b.Slice())

	f, err := value.NewArray[float64](2)
	require.NoError(t, err)
	defer f.Free()
	ok, err = f.CompareAndSwap(1, 0, 2.5)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2.5, f.At(1))

	// A 32-byte element cannot be swapped atomically without a lock.
	q, err := value.NewArray[quad](2)
	require.NoError(t, err)
	defer q.Free()
	_, err = q.CompareAndSwap(0, quad{}, quad{1, 1, 1, 1})
	require.ErrorIs(t, err, value.ErrNotAtomic)
	_, err = q.Swap(0, quad{})
	require.ErrorIs(t, err, value.ErrNotAtomic)
	require.Panics(t, func() { a.Swap(3, 0) }, "an index out of range panics as a slice index does")
}

func TestRawValueCode(t *testing.T) {
	v, err := value.NewRawValueCode[int32]('i', 7)
	require.NoError(t, err)
	defer v.Free()
	require.Equal(t, int32(7), v.Load())
	_, err = value.NewRawValueCode[int32]('d', 7)
	require.ErrorIs(t, err, value.ErrMismatch)
	_, err = value.NewRawValueCode[int32]('z', 7)
	require.Error(t, err)
}
