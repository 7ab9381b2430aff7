package lock_test

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/proc"
)

var _ = proc.Register(lockChurn)

// The hold stamp says since when, at least, the holder has held the Lock: absent while nobody has
// waited, the holder's pid and a time no later than the wait once a waiter has parked (the holder
// is another process), the new owner and the takeover's time after the holder was SIGKILLed, and
// absent again after the release.
func TestHoldStamp(t *testing.T) {
	c := newCell(t)
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	c.Set(1, 0)
	p := start(t, lockHoldUntilKilled, l, c)
	c.WaitFor(t, 1, 1)
	require.Zero(t, lock.HoldStamp(l).Pid, "a hold that nobody waited for is stamped")

	t0 := time.Now().Truncate(time.Millisecond)
	require.ErrorIs(t, l.LockTimeout(50*time.Millisecond), lock.ErrTimeout)
	st := lock.HoldStamp(l)
	require.Equal(t, uint32(p.Pid()), st.Pid)
	require.False(t, st.Since.Before(t0), "stamped %v, before the wait began at %v", st.Since, t0)
	require.False(t, st.Since.After(time.Now()))

	killJoin(t, p)
	t1 := time.Now().Truncate(time.Millisecond)
	require.NoError(t, l.Lock())
	require.True(t, l.Recovered())
	st = lock.HoldStamp(l)
	require.Equal(t, uint32(os.Getpid()), st.Pid, "a takeover is stamped with its new owner")
	require.False(t, st.Since.Before(t1))
	require.NoError(t, l.Unlock())
	require.Zero(t, lock.HoldStamp(l).Pid, "a release leaves its stamp")

	require.NoError(t, l.Lock())
	require.Zero(t, lock.HoldStamp(l).Pid, "an uncontended acquisition is stamped")
	require.NoError(t, l.Unlock())
}

// However the goroutines of two processes contend, and whatever their waits time out, a free Lock
// has no stamp, and a held Lock's stamp names its holder or is absent.
func TestHoldStampNeverOutlivesHold(t *testing.T) {
	c := newCell(t)
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	rounds := 20000
	if testing.Short() {
		rounds = 4000
	}
	p := start(t, lockChurn, l, c, rounds)
	var wg sync.WaitGroup
	var stamped atomic.Int64
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if l.LockTimeout(time.Duration(i%3)*50*time.Microsecond) != nil {
					continue
				}
				if st := lock.HoldStamp(l); st.Pid != 0 && st.Pid != uint32(os.Getpid()) {
					t.Errorf("held by this process, stamped for pid %d", st.Pid)
				} else if st.Pid != 0 {
					stamped.Add(1)
				}
				if i%64 == 0 {
					time.Sleep(300 * time.Microsecond) // longer than a spin: waiters park
				}
				if err := l.Unlock(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	joinOK(t, p)
	require.False(t, l.Locked())
	require.Zero(t, lock.HoldStamp(l), "a free Lock has a stamp")
	require.NotZero(t, stamped.Load(), "no hold was ever stamped: the test did not make waiters park")
	t.Logf("%d holds of this process were stamped", stamped.Load())
}

// lockChurn takes and releases l rounds times with short waits, as TestHoldStampNeverOutlivesHold's
// other process.
func lockChurn(l *lock.Lock, c *cell, rounds int) error {
	for i := 0; i < rounds; i++ {
		if l.LockTimeout(time.Duration(i%3)*50*time.Microsecond) != nil {
			continue
		}
		if i%64 == 0 {
			time.Sleep(300 * time.Microsecond)
		}
		if err := l.Unlock(); err != nil {
			return err
		}
	}
	return nil
}
