package value_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// value.In(h) (the same option as lock.In(h)) puts a Value or Array in heap h; without it they go
// to the default heap.
func TestConstructorOptions(t *testing.T) {
	seg, err := shm.Create(1<<20, nil)
	require.NoError(t, err)
	t.Cleanup(func() { seg.Close() })
	h, err := seg.Heap()
	require.NoError(t, err)
	in := value.In(h)
	type object interface {
		Ref() shm.Ref
		Free() error
	}
	var objects []object
	add := func(o object, err error) {
		t.Helper()
		require.NoError(t, err)
		objects = append(objects, o)
	}
	add(value.NewValue(1.5, in))
	add(value.NewValueCode('i', int32(3), in))
	add(value.NewRawValue(uint8(1), lock.In(h)))
	add(value.NewRawValueCode('d', 2.5, in))
	add(value.NewArray[int64](4, in))
	add(value.NewArrayFrom([]float32{1, 2}, in))
	add(value.NewArrayCode[int16]('h', 3, in))
	add(value.NewRawArray[bool](5, in))
	add(value.NewRawArrayFrom([]uint32{7}, in))
	for _, o := range objects {
		require.Equal(t, seg.ID(), o.Ref().Seg, "%T", o)
		require.NoError(t, o.Free())
	}
	v, err := value.NewValue(0)
	require.NoError(t, err)
	defer v.Free()
	def, err := shm.Default()
	require.NoError(t, err)
	require.Equal(t, def.Segment().ID(), v.Ref().Seg)
}
