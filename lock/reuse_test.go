package lock_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/robust"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/require"
)

// A Lock whose word names a live, unrelated process (a sleeping child) with another start time
// than the one it has — the owner died and its pid was reused — is taken over; the same word
// with the sleeper's real start time is a live owner and is not.
func TestLockOwnerPidReused(t *testing.T) {
	l, err := lock.NewLock()
	require.NoError(t, err)
	freeAtEnd(t, l)
	seg := shm.Lookup(l.Ref().Seg)
	pid, real := testutil.ReusedPid(t, seg)
	w := shm.Word64(raw(t, l), 0)
	atomic.StoreUint64(w, uint64(pid)|((real-1)&(1<<40-1))<<robust.StartShift)
	require.NoError(t, l.LockTimeout(10*time.Second), "a dead owner whose pid is reused")
	require.True(t, l.Recovered())
	require.NoError(t, l.Unlock())

	atomic.StoreUint64(w, uint64(pid)|(real&(1<<40-1))<<robust.StartShift)
	ok, err := l.TryLock()
	require.NoError(t, err)
	require.False(t, ok, "took the Lock of a live owner")
	require.ErrorIs(t, l.LockTimeout(300*time.Millisecond), lock.ErrTimeout)
	atomic.StoreUint64(w, 0)
}

// A Semaphore's holders table names a process whose pid a live, unrelated process now has (the
// segment's peer table has the dead one's start time): its unit is given back to a waiter. With
// the live process recorded under its real start time, the unit stays held.
func TestSemaphoreHolderPidReused(t *testing.T) {
	s, err := lock.NewSemaphore(1)
	require.NoError(t, err)
	freeAtEnd(t, s)
	seg := shm.Lookup(s.Ref().Seg)
	pid, real := testutil.ReusedPid(t, seg)
	b := raw(t, s)
	const semHolders = 64
	entry := shm.Word64(b, semHolders+8*15) // the last entry: this process's own takes the first
	atomic.StoreUint32(shm.Word32(b, 0), 0) // the one unit is held ...
	atomic.StoreUint64(entry, uint64(pid)<<32|1)
	require.NoError(t, s.AcquireTimeout(10*time.Second), "the dead holder's unit was not given back")
	require.Zero(t, atomic.LoadUint64(entry), "the dead holder's entry was not cleared")
	require.NoError(t, s.Release())

	require.NoError(t, s.Acquire())
	testutil.LivePeer(t, seg, pid, real)
	atomic.StoreUint64(entry, uint64(pid)<<32|1) // ... now by the live sleeper
	// The value is 0 (this process holds the other unit); the live holder keeps its own.
	require.ErrorIs(t, s.AcquireTimeout(300*time.Millisecond), lock.ErrTimeout)
	require.Equal(t, uint64(pid)<<32|1, atomic.LoadUint64(entry))
	atomic.StoreUint64(entry, 0)
	require.NoError(t, s.Release())
}

// A Barrier party that arrived and died, whose pid a live unrelated process now has, breaks the
// Barrier for the parties waiting; recorded with the live process's real start time, it is a
// party still waiting, and the wait only times out.
func TestBarrierPartyPidReused(t *testing.T) {
	for _, live := range []bool{false, true} {
		b, err := lock.NewBarrier(3, nil)
		require.NoError(t, err)
		freeAtEnd(t, b)
		seg := shm.Lookup(b.Ref().Seg)
		pid, real := testutil.ReusedPid(t, seg)
		if live {
			testutil.LivePeer(t, seg, pid, real)
		}
		const barCount, barPids = 16, 64
		blk := raw(t, b)
		atomic.StoreUint32(shm.Word32(blk, barPids), uint32(pid)) // party 0 arrived ...
		atomic.StoreUint32(shm.Word32(blk, barCount), 1)
		_, err = b.WaitTimeout(3 * time.Second)
		require.ErrorIs(t, err, lock.ErrBroken)
		if live {
			require.ErrorIs(t, err, lock.ErrTimeout, "a live party was taken for dead")
		} else {
			require.NotErrorIs(t, err, lock.ErrTimeout, "the dead party was not noticed")
			require.ErrorContains(t, err, "died")
		}
	}
}
