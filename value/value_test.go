package value_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/codec"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

type withPointer struct {
	N     int
	Inner struct{ Names []string }
}

func TestRefusesPointers(t *testing.T) {
	_, err := value.NewValue(withPointer{})
	require.ErrorIs(t, err, value.ErrType)
	require.ErrorIs(t, err, codec.ErrNotPOD)
	require.ErrorContains(t, err, "Inner.Names is a slice")

	_, err = value.NewArray[string](3)
	require.ErrorIs(t, err, value.ErrType)
	_, err = value.NewRawValue[map[int]int](nil)
	require.ErrorIs(t, err, value.ErrType)
	_, err = value.NewRawArray[struct{ F func() }](1)
	require.ErrorContains(t, err, "field F is a func")
	_, err = value.NewValue(struct{ C chan int }{})
	require.ErrorContains(t, err, "field C is a chan")
	_, err = value.NewValue[any](nil)
	require.ErrorIs(t, err, value.ErrType)
	_, err = value.NewValue(struct{}{})
	require.ErrorIs(t, err, value.ErrType, "size 0")
	require.ErrorIs(t, value.Register[*int](), value.ErrType)
}

// small has padding (3 bytes after B) and a bool: 8 bytes, one word.
type small struct {
	B bool
	N int32
}

func TestValueWordTypes(t *testing.T) {
	f, err := value.NewValue(1.5)
	require.NoError(t, err)
	defer f.Free()
	require.Equal(t, 1.5, f.Load())
	old, err := f.Swap(2.5)
	require.NoError(t, err)
	require.Equal(t, 1.5, old)
	ok, err := f.CompareAndSwap(1.5, 9)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = f.CompareAndSwap(2.5, math.Inf(-1))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, math.Inf(-1), f.Load())
	require.NoError(t, f.Update(func(x *float64) { *x = -0.25 }))
	require.Equal(t, -0.25, f.Load())

	i8, err := value.NewValue[int8](126)
	require.NoError(t, err)
	defer i8.Free()
	require.Equal(t, int8(127), value.Add(i8, 1))
	require.Equal(t, int8(-128), value.Add(i8, 1), "wraps as Go integers do")
	require.Equal(t, int8(-118), value.Add(i8, 10))

	u16, err := value.NewRawValue[uint16](0)
	require.NoError(t, err)
	defer u16.Free()
	require.Equal(t, uint16(0xffff), value.Add(u16, 0xffff))
	require.Equal(t, uint16(1), value.Add(u16, 2))

	i32, err := value.NewValue[int32](0)
	require.NoError(t, err)
	defer i32.Free()
	require.Equal(t, int32(-5), value.Add(i32, -5))
	require.Equal(t, int32(-5), i32.Load())

	s, err := value.NewValue(small{true, 7})
	require.NoError(t, err)
	defer s.Free()
	require.Equal(t, small{true, 7}, s.Load())
	ok, err = s.CompareAndSwap(small{true, 7}, small{false, -1})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, small{false, -1}, s.Load())

	b, err := value.NewRawValue(false)
	require.NoError(t, err)
	defer b.Free()
	require.NoError(t, b.Store(true))
	require.True(t, b.Load())
}

// TestConcurrentAdds checks every integer width against goroutines of one process: nothing lost.
func TestConcurrentAdds(t *testing.T) {
	const g, n = 4, 5_000
	run := func(add func()) {
		var wg sync.WaitGroup
		for range g {
			wg.Go(func() {
				for range n {
					add()
				}
			})
		}
		wg.Wait()
	}
	v8, _ := value.NewValue[uint8](0)
	v16, _ := value.NewValue[int16](0)
	v32, _ := value.NewRawValue[uint32](0)
	v64, _ := value.NewValue[int](0)
	defer v8.Free()
	defer v16.Free()
	defer v32.Free()
	defer v64.Free()
	run(func() { value.Add(v8, 1); value.Add(v16, 1); value.Add(v32, 1); value.Add(v64, 1) })
	require.Equal(t, uint8(g*n%256), v8.Load())
	require.Equal(t, int16(g*n%65536), v16.Load())
	require.Equal(t, uint32(g*n), v32.Load())
	require.Equal(t, g*n, v64.Load())
}

func TestValueLarge(t *testing.T) {
	v, err := value.NewValue(complex(1, 2))
	require.NoError(t, err)
	defer v.Free()
	require.Equal(t, complex(1, 2), v.Load())
	old, err := v.Swap(3i)
	require.NoError(t, err)
	require.Equal(t, complex(1, 2), old)
	ok, err := v.CompareAndSwap(complex(1, 2), 0)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = v.CompareAndSwap(3i, 4)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, complex(4, 0), v.Load())

	type odd struct { // 12 bytes: not a multiple of 8
		A, B, C int32
	}
	o, err := value.NewValue(odd{1, 2, 3})
	require.NoError(t, err)
	defer o.Free()
	require.NoError(t, o.Update(func(x *odd) { x.C = 30 }))
	require.Equal(t, odd{1, 2, 30}, o.Load())

	raw, err := value.NewRawValue(odd{4, 5, 6})
	require.NoError(t, err)
	defer raw.Free()
	require.Equal(t, odd{4, 5, 6}, raw.Load())
	_, err = raw.Swap(odd{})
	require.ErrorIs(t, err, value.ErrNotAtomic)
	_, err = raw.CompareAndSwap(odd{}, odd{})
	require.ErrorIs(t, err, value.ErrNotAtomic)
}

// TestUpdateRerunsAfterStore: a Store between Update's copy and its commit makes fn run again on
// the stored value, so nothing is lost.
func TestUpdateRerunsAfterStore(t *testing.T) {
	for _, large := range []bool{false, true} {
		var calls int
		if large {
			v, err := value.NewValue(quad{})
			require.NoError(t, err)
			require.NoError(t, v.Update(func(q *quad) {
				calls++
				if calls == 1 {
					require.NoError(t, v.Store(quad{10, 10, 10, 10}))
				}
				q.A++
				q.B++
				q.C++
				q.D++
			}))
			require.Equal(t, quad{11, 11, 11, 11}, v.Load())
			require.NoError(t, v.Free())
		} else {
			v, err := value.NewValue[int64](0)
			require.NoError(t, err)
			require.NoError(t, v.Update(func(x *int64) {
				calls++
				if calls == 1 {
					value.Add(v, 10)
				}
				*x++
			}))
			require.Equal(t, int64(11), v.Load())
			require.NoError(t, v.Free())
		}
		require.Equal(t, 2, calls)
	}
}

func TestArrayElements(t *testing.T) {
	a, err := value.NewArrayFrom([]float64{1, 2, 3})
	require.NoError(t, err)
	defer a.Free()
	require.Equal(t, 3, a.Len())
	require.Equal(t, byte('d'), a.Typecode())
	a.Set(1, 20)
	require.Equal(t, 20.0, a.At(1))
	require.Equal(t, []float64{1, 20, 3}, a.Slice())
	a.Slice()[2] = 30
	require.Equal(t, 30.0, a.At(2))

	dst := make([]float64, 5)
	require.Equal(t, 3, a.CopyTo(dst))
	require.Equal(t, []float64{1, 20, 30, 0, 0}, dst)
	require.Equal(t, 2, a.CopyFrom([]float64{-1, -2}))
	require.Equal(t, []float64{-1, -2, 30}, a.Slice())
	a.Fill(7)
	require.Equal(t, []float64{7, 7, 7}, a.Slice())
	require.NoError(t, a.Update(func(s []float64) { s[0] = 8 }))
	require.Equal(t, 8.0, a.At(0))

	empty, err := value.NewRawArray[int32](0)
	require.NoError(t, err)
	defer empty.Free()
	require.Equal(t, 0, empty.Len())
	require.Empty(t, empty.Slice())

	_, err = value.NewArray[int32](-1)
	require.ErrorIs(t, err, value.ErrLength)
	_, err = value.NewArray[int64](math.MaxInt / 4)
	require.ErrorIs(t, err, value.ErrLength)
}

// TestArrayOutOfRange: At and Set panic on a bad index exactly as slice indexing does.
func TestArrayOutOfRange(t *testing.T) {
	a, err := value.NewRawArray[int16](3)
	require.NoError(t, err)
	defer a.Free()
	for _, i := range []int{-1, 3, 1 << 40} {
		require.PanicsWithError(t, sliceIndexPanic(i, 3), func() { a.At(i) })
		require.PanicsWithError(t, sliceIndexPanic(i, 3), func() { a.Set(i, 1) })
	}
}

func sliceIndexPanic(i, n int) (msg string) {
	defer func() { msg = recover().(error).Error() }()
	s := make([]int16, n)
	_ = s[i]
	return ""
}

// TestSmallElementsNeighbours: 1- and 2-byte elements are set by compare-and-swap on the word
// that holds them; concurrent Sets of neighbours must not undo each other.
func TestSmallElementsNeighbours(t *testing.T) {
	const n, rounds = 64, 2000
	a8, err := value.NewArray[uint8](n)
	require.NoError(t, err)
	defer a8.Free()
	a16, err := value.NewRawArray[int16](n)
	require.NoError(t, err)
	defer a16.Free()
	bs, err := value.NewArray[bool](n)
	require.NoError(t, err)
	defer bs.Free()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for r := range rounds {
				a8.Set(i, a8.At(i)+1)
				a16.Set(i, a16.At(i)-1)
				bs.Set(i, r%2 == 0)
			}
		})
	}
	wg.Wait()
	for i := range n {
		require.Equal(t, uint8(rounds%256), a8.At(i), "element %d", i)
		require.Equal(t, int16(-rounds), a16.At(i), "element %d", i)
		require.False(t, bs.At(i))
	}
}

func TestTypecodes(t *testing.T) {
	cases := []struct {
		code byte
		err  error
		new  func(byte) error
	}{
		{'b', nil, newCode[int8]}, {'B', nil, newCode[uint8]}, {'h', nil, newCode[int16]},
		{'H', nil, newCode[uint16]}, {'i', nil, newCode[int32]}, {'I', nil, newCode[uint32]},
		{'l', nil, newCode[int]}, {'l', nil, newCode[int64]}, {'L', nil, newCode[uint64]},
		{'q', nil, newCode[int64]}, {'Q', nil, newCode[uint64]}, {'f', nil, newCode[float32]},
		{'d', nil, newCode[float64]}, {'?', nil, newCode[bool]},
		{'i', value.ErrMismatch, newCode[int64]}, {'d', value.ErrMismatch, newCode[int64]},
		{'L', value.ErrMismatch, newCode[int64]}, {'x', value.ErrTypecode, newCode[int8]},
	}
	for _, c := range cases {
		err := c.new(c.code)
		if c.err == nil {
			require.NoError(t, err, "%q", c.code)
		} else {
			require.ErrorIs(t, err, c.err, "%q", c.code)
		}
	}
	require.Equal(t, byte('d'), value.Typecode[float64]())
	require.Equal(t, byte('l'), value.Typecode[int]())
	require.Equal(t, byte(0), value.Typecode[quad]())

	v, err := value.NewValueCode('d', 0.0)
	require.NoError(t, err)
	require.NoError(t, v.Free())
	_, err = value.NewValueCode[int32]('q', 0)
	require.ErrorIs(t, err, value.ErrMismatch)
}

func newCode[T any](code byte) error {
	a, err := value.NewArrayCode[T](code, 4)
	if err != nil {
		return err
	}
	if a.Typecode() != code {
		return errors.New("typecode not recorded")
	}
	return a.Free()
}

func TestRefsReopen(t *testing.T) {
	a, err := value.NewArrayFrom([]int32{5, 6})
	require.NoError(t, err)
	defer a.Free()
	b, err := value.OpenArray[int32](a.Ref())
	require.NoError(t, err)
	b.Set(0, 50)
	require.Equal(t, int32(50), a.At(0))
	require.NoError(t, b.Locker().Lock())
	require.True(t, a.Locker().Locked())
	require.NoError(t, a.Locker().Unlock())

	// The wrong type, or the wrong form, is refused by kind.
	_, err = value.OpenArray[uint32](a.Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)
	_, err = value.OpenRawArray[int32](a.Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)
	_, err = value.OpenValue[int32](a.Ref())
	require.ErrorIs(t, err, shm.ErrBadRef)
}

func TestFreeThenOpen(t *testing.T) {
	v, err := value.NewValue[int64](1)
	require.NoError(t, err)
	ref := v.Ref()
	require.NoError(t, v.Free())
	_, err = value.OpenValue[int64](ref)
	require.ErrorIs(t, err, shm.ErrBadRef)
}

func TestNamedInProcess(t *testing.T) {
	n := testutil.ShmName(t)
	a, err := value.NewNamedArray[int32](n, 10, nil)
	require.NoError(t, err)
	_, err = value.NewNamedArray[int32](n, 10, nil)
	require.Error(t, err, "the name exists")
	b, err := value.OpenNamedArray[int32](n)
	require.NoError(t, err)
	b.Set(3, 33)
	require.Equal(t, int32(33), a.At(3))
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close is idempotent per handle")
	require.Equal(t, int32(33), a.At(3), "the other handle still maps it")

	_, err = value.OpenNamedArray[float32](n)
	require.ErrorIs(t, err, value.ErrMismatch)
	_, err = value.OpenNamedRawArray[int32](n)
	require.ErrorIs(t, err, value.ErrMismatch)
	_, err = value.OpenNamedValue[int32](n)
	require.ErrorIs(t, err, value.ErrMismatch)
	require.NoError(t, a.Close())
	_, err = value.OpenNamedArray[int32](n)
	require.Error(t, err, "unlinked by its creator's Close")

	vn := testutil.ShmName(t)
	v, err := value.NewNamedValue(vn, quad{1, 2, 3, 4}, nil)
	require.NoError(t, err)
	w, err := value.OpenNamedValue[quad](vn)
	require.NoError(t, err)
	require.NoError(t, w.Store(quad{5, 6, 7, 8}))
	require.Equal(t, quad{5, 6, 7, 8}, v.Load())
	require.NoError(t, w.Close())
	require.NoError(t, v.Free())

	rn := testutil.ShmName(t)
	r, err := value.NewNamedRawArray[uint8](rn, 3, nil)
	require.NoError(t, err)
	r.Set(2, 200)
	r2, err := value.OpenNamedRawArray[uint8](rn)
	require.NoError(t, err)
	require.Equal(t, []uint8{0, 0, 200}, r2.Slice())
	require.NoError(t, r2.Close())
	require.NoError(t, r.Close())
}
