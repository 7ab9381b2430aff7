package lock_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
)

// FuzzLockWord writes arbitrary values into the shared words of a Lock, a RecursiveLock and an Event,
// as a hostile or buggy peer could, and requires every operation to return (no hang, no panic)
// with a result or one of the package's errors.
func FuzzLockWord(f *testing.F) {
	for _, v := range []uint64{0, 1, 1 << 22, 1<<22 | 1, 0xffffffff, 1 << 32, 1<<32 | 1, 3, 0x7fffff, ^uint64(0)} {
		f.Add(v)
	}
	l, err := lock.NewLock()
	if err != nil {
		f.Fatal(err)
	}
	r, err := lock.NewRecursiveLock()
	if err != nil {
		f.Fatal(err)
	}
	e, err := lock.NewEvent()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Free(); r.Free(); e.Free() })
	lw := shm.Word64(raw(f, l), 0)
	rw := shm.Word64(raw(f, r), 0)
	ew := shm.Word32(raw(f, e), 0)
	known := func(err error) bool {
		return err == nil || errors.Is(err, lock.ErrCorrupt) || errors.Is(err, lock.ErrTimeout) ||
			errors.Is(err, lock.ErrOwnerDead) || errors.Is(err, lock.ErrNotOwner) || errors.Is(err, lock.ErrBadArgs)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		atomic.StoreUint64(lw, v)
		atomic.StoreUint64(rw, v)
		atomic.StoreUint32(ew, uint32(v))
		for _, err := range []error{
			l.LockTimeout(time.Millisecond), l.Unlock(), second(l.TryLock()), l.Unlock(),
			r.LockTimeout(time.Millisecond), r.Unlock(), second(r.TryLock()), r.Unlock(),
			e.WaitTimeout(time.Millisecond), e.Clear(), e.Set(),
		} {
			if !known(err) {
				t.Fatalf("word %#x: unexpected error %v", v, err)
			}
		}
	})
}

func second(_ bool, err error) error { return err }
