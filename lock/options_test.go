package lock_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// lock.In(h) puts an object in heap h; without it, objects go to the default heap.
func TestConstructorOptions(t *testing.T) {
	seg, err := shm.Create(1<<16, nil)
	require.NoError(t, err)
	t.Cleanup(func() { seg.Close() })
	h, err := seg.Heap()
	require.NoError(t, err)
	def, err := shm.Default()
	require.NoError(t, err)
	in := lock.In(h)
	objects := []interface {
		Ref() shm.Ref
		Free() error
	}{}
	add := func(o interface {
		Ref() shm.Ref
		Free() error
	}, err error) {
		t.Helper()
		require.NoError(t, err)
		objects = append(objects, o)
	}
	add(lock.NewLock(in))
	add(lock.NewRecursiveLock(in))
	add(lock.NewEvent(in))
	add(lock.NewRWLock(in))
	add(lock.NewSemaphore(2, in))
	add(lock.NewBoundedSemaphore(2, in))
	add(lock.NewBarrier(2, nil, in))
	for _, o := range objects {
		require.Equal(t, seg.ID(), o.Ref().Seg, "%T", o)
		require.NoError(t, o.Free())
	}
	l, err := lock.NewLock()
	require.NoError(t, err)
	defer l.Free()
	require.Equal(t, def.Segment().ID(), l.Ref().Seg)
	require.NotEqual(t, seg.ID(), l.Ref().Seg)
}
