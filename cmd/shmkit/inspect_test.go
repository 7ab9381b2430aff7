package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
)

var (
	_           = proc.Register(holdAndHang)
	waitRelease = pool.Register(waitForRelease)
)

// waitForRelease is a pool task that runs until the Event at ref is set.
func waitForRelease(ref shm.Ref) (int, error) {
	e, err := lock.OpenEvent(ref)
	if err != nil {
		return 0, err
	}
	if err := e.Wait(); err != nil {
		return 0, err
	}
	return os.Getpid(), nil
}

// holdAndHang builds a Lock, a Semaphore and a Queue in a new named segment, takes the Lock and a
// unit of the Semaphore, puts three messages, says so in c and waits to be killed.
func holdAndHang(name string, c *testutil.Cell) error {
	seg, err := shm.CreateNamed(name, 1<<20, nil)
	if err != nil {
		return err
	}
	h, err := seg.Heap()
	if err != nil {
		return err
	}
	l, err := lock.NewLock(lock.In(h))
	if err != nil {
		return err
	}
	s, err := lock.NewSemaphore(2, lock.In(h))
	if err != nil {
		return err
	}
	q, err := ring.NewQueue(&ring.Options{Size: 4096, Heap: h})
	if err != nil {
		return err
	}
	if err := l.Lock(); err != nil {
		return err
	}
	if err := s.Acquire(); err != nil {
		return err
	}
	for _, m := range []string{"a", "bb", "ccc"} {
		if err := q.Put([]byte(m)); err != nil {
			return err
		}
	}
	c.Set(0, 1)
	time.Sleep(time.Hour)
	return nil
}

// The inspector on a segment whose creator was SIGKILLed holding a Lock and a Semaphore unit,
// with three messages queued: it names the dead holder of each, counts the messages, lists the
// dead peer; clean then removes the segment. While this process maps it, clean leaves it.
func TestInspectAfterKill(t *testing.T) {
	name := testutil.ShmName(t)
	t.Cleanup(func() { os.Remove(filepath.Join(shm.DevShm, name)) })
	c := testutil.NewCell(t, 64)
	p := testutil.Start(t, holdAndHang, name, c)
	c.WaitFor(t, 0, 1)
	pid := p.Pid()
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(10*time.Second))

	var d detail
	require.NoError(t, json.Unmarshal([]byte(shmkit(t, "ls", "--json", name)), &d))
	require.Equal(t, pid, d.Creator)
	require.Equal(t, 1, d.ByKind["lock.Lock"])
	require.Equal(t, 1, d.ByKind["lock.Semaphore"])
	require.Equal(t, 1, d.ByKind["ring.Queue"])
	require.Len(t, d.Peers, 1)
	require.Equal(t, pid, d.Peers[0].Pid)
	require.False(t, d.Peers[0].Alive)
	require.Zero(t, d.Heap.Unwalked)
	seen := 0
	for _, o := range d.Objects {
		require.Empty(t, o.Error, "%s", o.Kind)
		switch o.Kind {
		case "lock.Lock":
			require.NotNil(t, o.Lock)
			require.True(t, o.Lock.Held)
			require.Equal(t, uint32(pid), o.Lock.Pid)
			require.False(t, o.Lock.OwnerAlive)
			seen++
		case "lock.Semaphore":
			require.Equal(t, uint32(1), o.Semaphore.Value)
			require.Equal(t, []holder{{Pid: pid, Units: 1, Alive: false}}, o.Holders)
			seen++
		case "ring.Queue":
			require.Equal(t, uint64(3), o.Queue.Messages)
			require.False(t, o.Queue.Producers.Held)
			seen++
		}
	}
	require.Equal(t, 3, seen)
	table := shmkit(t, "ls", name)
	require.Contains(t, table, "DEAD")
	require.Contains(t, table, "3 messages")

	// In use by this process: never removed.
	seg, err := shm.OpenNamed(name)
	require.NoError(t, err)
	require.NotContains(t, shmkit(t, "clean"), name)
	_, err = os.Stat(filepath.Join(shm.DevShm, name))
	require.NoError(t, err, "clean removed a segment in use")
	require.NoError(t, seg.Close())
	require.Contains(t, shmkit(t, "clean"), "removed "+name+"\n")
	_, err = os.Stat(filepath.Join(shm.DevShm, name))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// ls lists this process's default heap among the anonymous segments, and ls PATH shows inside it a
// pool's workers (alive, one busy running waitForRelease, the other idle) and a Dict's length.
func TestInspectAnonymousPoolAndDict(t *testing.T) {
	release, err := lock.NewEvent()
	require.NoError(t, err)
	defer release.Free()
	p, err := pool.New(&pool.Options{Workers: 2})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, release.Set())
		require.NoError(t, p.Close())
		require.NoError(t, p.JoinTimeout(10*time.Second))
	}()
	r, err := pool.ApplyAsync(p, waitForRelease, release.Ref())
	require.NoError(t, err)
	d, err := manager.NewDict[string, int]()
	require.NoError(t, err)
	defer d.Free()
	for i, k := range []string{"a", "b", "c"} {
		require.NoError(t, d.Set(k, i))
	}
	// A Lock held here, which a goroutine here waited for: its hold is stamped.
	held, err := lock.NewLock()
	require.NoError(t, err)
	defer held.Free()
	require.NoError(t, held.Lock())
	t0 := time.Now().Truncate(time.Millisecond)
	require.ErrorIs(t, held.LockTimeout(20*time.Millisecond), lock.ErrTimeout)

	var l listing
	require.NoError(t, json.Unmarshal([]byte(shmkit(t, "ls", "--json")), &l))
	var path string
	for _, a := range l.Anonymous {
		if a.Creator == os.Getpid() && a.Default {
			path = a.Path
			require.True(t, a.CreatorAlive)
			require.Contains(t, a.Holders, os.Getpid())
			require.GreaterOrEqual(t, len(a.Holders), 3, "this process and two workers hold the heap")
		}
	}
	require.NotEmpty(t, path, "this process's default heap is not listed: %+v", l.Anonymous)

	var busy *worker
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		var in detail
		require.NoError(t, json.Unmarshal([]byte(shmkit(t, "ls", "--json", path)), &in))
		busy = nil
		workers, dicts := 0, 0
		for _, o := range in.Objects {
			require.Empty(t, o.Error, "%s at %d", o.Kind, o.Off)
			for _, w := range o.Pool {
				require.True(t, w.Alive, "worker %+v", w)
				workers++
				if w.Busy {
					busy = &w
				}
			}
			if o.Table != nil && o.Table.Form == "dict" && o.Table.Len == 3 {
				dicts++
			}
			if o.Off == held.Ref().Off {
				require.True(t, o.Lock.Held)
				require.Equal(t, uint32(os.Getpid()), o.Lock.Pid)
				require.GreaterOrEqual(t, o.Lock.Since, t0.UnixMilli(), "the hold's stamp")
			}
		}
		require.Equal(t, 1, dicts)
		return workers == 2 && busy != nil
	}), "no busy worker shown")
	require.Equal(t, "…"+waitRelease[len(waitRelease)-31:], busy.Function)
	require.Greater(t, busy.Since, time.Now().Add(-time.Minute).UnixMilli())
	table := shmkit(t, "ls", path)
	require.Contains(t, table, "busy for")
	require.Contains(t, table, "(alive) for at least")
	require.NoError(t, held.Unlock())
	var after detail
	require.NoError(t, json.Unmarshal([]byte(shmkit(t, "ls", "--json", path)), &after))
	for _, o := range after.Objects {
		if o.Off == held.Ref().Off {
			require.False(t, o.Lock.Held)
			require.Zero(t, o.Lock.Since, "a released Lock shows a hold time")
		}
	}

	require.NoError(t, release.Set())
	pid, err := r.Get(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, busy.Pid, pid, "the busy worker shown is not the one that ran the task")
}

// FuzzDescribe gives the object decoder arbitrary bytes as the payload of each kind it knows: it
// must never panic, whatever a peer wrote.
func FuzzDescribe(f *testing.F) {
	f.Add(make([]byte, 512))
	f.Add(bytes.Repeat([]byte{0xff}, 600))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &shm.Inspection{ReadAt: bytes.NewReader(data).ReadAt}
		for _, k := range []string{"lock.Lock", "lock.RecursiveLock", "lock.RWLock", "lock.Condition",
			"lock.Semaphore", "ring.Queue", "pool.state", "manager.Dict", "manager.List"} {
			b := shm.Block{Off: 0, Bytes: uint64(len(data)) + 64, Size: uint64(len(data)), Used: true}
			o := object{Kind: k}
			describe(in, b, &o)
		}
	})
}
