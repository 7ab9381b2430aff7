package proc_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(noMainEnv); mode != "" {
		programWithoutMain(mode) // a program whose main forgot proc.Main
		return
	}
	testutil.Main(m)
}

// cell is the tests' shared bookkeeping: 32-bit words from 0, 64-bit words from byte 128.
type cell = testutil.Cell

func newCell(t *testing.T) *cell { return testutil.NewCell(t, 256) }

func dword(c *cell, i int) *uint64 { return c.W64(16 + i) }

// Targets, registered as a program must: at package level.
var (
	_ = proc.Register(writeCell)
	_ = proc.Register(allocInChild)
	_ = proc.Register(waitOnFutex)
	_ = proc.Register(exitWith)
	_ = proc.Register(sleepFor)
	_ = proc.Register(checkIdentity)
	_ = proc.Register(spawnDaemonAndWait)
	_ = proc.Register(daemonTriesToSpawn)
	_ = proc.Register(&counter{})
	_ = proc.Register(plainArgs)
	_ = proc.Register(spawnWatcherAndWait)
	_ = proc.Register(watchParent)
	_ = proc.Register(startAndExit)
	_ = proc.Register(echoThrough)
	_ = proc.Register(measure)
)

// echoThrough reads a line from r and writes it, upper-cased, to w: two descriptors the parent
// handed over as arguments (one through an interface parameter).
func echoThrough(r *os.File, w io.Writer) error {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, strings.ToUpper(line))
	return err
}

// startAndExit starts a child with a large argument and exits at once: the child must still get
// its whole start spec.
func startAndExit(c *cell, size int) error {
	p, err := proc.Start(measure, c, strings.Repeat("x", size))
	if err != nil {
		return err
	}
	atomic.StoreUint32(c.W32(3), uint32(p.Pid()))
	return nil
}

func measure(c *cell, s string) {
	atomic.StoreUint32(c.W32(0), uint32(len(s)))
}

// spawnWatcherAndWait starts a non-daemon grandchild that watches for this process's death.
func spawnWatcherAndWait(c *cell) error {
	p, err := proc.Start(watchParent, c)
	if err != nil {
		return err
	}
	atomic.StoreUint32(c.W32(0), uint32(p.Pid()))
	time.Sleep(time.Hour)
	return nil
}

// watchParent reports in word 1 when it sees that its parent died; it outlives the parent, as
// non-daemon children do.
func watchParent(c *cell) error {
	if !proc.ParentAlive() {
		return errors.New("parent reported dead at start")
	}
	atomic.StoreUint32(c.W32(2), 1) // watching
	for proc.ParentAlive() {
		time.Sleep(time.Millisecond)
	}
	atomic.StoreUint32(c.W32(1), 1)
	return nil
}

func writeCell(c *cell, v uint32) { atomic.StoreUint32(c.W32(0), v) }

// allocInChild allocates a block from the inherited default heap, fills it, and publishes its
// offset in the cell for the parent.
func allocInChild(c *cell, n int) error {
	ref, err := shm.Alloc(n, testutil.CellKind)
	if err != nil {
		return err
	}
	obj, err := testutil.OpenCell(ref)
	if err != nil {
		return err
	}
	for i := range obj.Bytes() {
		obj.Bytes()[i] = byte(i)
	}
	atomic.StoreUint64(dword(c, 1), ref.Seg)
	atomic.StoreUint64(dword(c, 2), uint64(ref.Gen))
	atomic.StoreUint64(dword(c, 0), ref.Off)
	return nil
}

func waitOnFutex(c *cell) error {
	atomic.StoreUint32(c.W32(1), 1) // ready
	for atomic.LoadUint32(c.W32(0)) == 0 {
		if err := futex.Wait(c.W32(0), 0, 10*time.Second); err != nil {
			return err
		}
	}
	atomic.StoreUint32(c.W32(2), 1) // woken
	return nil
}

func exitWith(how string) error {
	switch how {
	case "ok":
		return nil
	case "error":
		return errors.New("the target failed on purpose")
	case "panic":
		panic("the target panicked on purpose")
	}
	return fmt.Errorf("unknown %q", how)
}

func sleepFor(d time.Duration) { time.Sleep(d) }

func checkIdentity(name string, ppid int) error {
	cur := proc.Current()
	parent, ok := proc.Parent()
	switch {
	case cur.Name != name:
		return fmt.Errorf("Current().Name = %q, want %q", cur.Name, name)
	case cur.Pid != os.Getpid():
		return fmt.Errorf("Current().Pid = %d, want %d", cur.Pid, os.Getpid())
	case !ok || parent.Pid != ppid || parent.Pid != os.Getppid():
		return fmt.Errorf("Parent() = %+v %v, want pid %d", parent, ok, ppid)
	case parent.Name != "MainProcess":
		return fmt.Errorf("Parent().Name = %q", parent.Name)
	case !proc.IsChild() || !proc.ParentAlive():
		return fmt.Errorf("IsChild/ParentAlive false in a child")
	}
	return nil
}

// spawnDaemonAndWait starts a daemon grandchild, publishes its pid, and sleeps until killed.
func spawnDaemonAndWait(c *cell) error {
	p := proc.New(sleepFor, time.Hour)
	p.Daemon = true
	if err := p.Start(); err != nil {
		return err
	}
	atomic.StoreUint32(c.W32(0), uint32(p.Pid()))
	time.Sleep(time.Hour)
	return nil
}

func daemonTriesToSpawn() error {
	_, err := proc.Start(sleepFor, time.Millisecond)
	if !errors.Is(err, proc.ErrDaemonic) {
		return fmt.Errorf("Start in a daemon: %v, want ErrDaemonic", err)
	}
	return nil
}

// counter is a Runner target: Python's Process subclass with run().
type counter struct {
	N    int
	Cell *cell `cbor:"-"`
	Ref  shm.Ref
}

func (c *counter) Run() error {
	cl, err := testutil.OpenCell(c.Ref)
	if err != nil {
		return err
	}
	atomic.StoreUint32(cl.W32(0), uint32(c.N*c.N))
	return nil
}

type point struct {
	X, Y int
	Tag  string
}

func plainArgs(c *cell, s string, xs []int, m map[string]float64, p point, pp *point) error {
	sum := 0
	for _, x := range xs {
		sum += x
	}
	if s != "héllo" || sum != 6 || m["pi"] != 3.14 || p != (point{1, 2, "p"}) || pp != nil {
		return fmt.Errorf("args arrived wrong: %q %v %v %+v %v", s, xs, m, p, pp)
	}
	atomic.StoreUint32(c.W32(0), 77)
	return nil
}

// run starts p and requires that its target returns nil.
func run(t *testing.T, p *proc.Process) {
	t.Helper()
	require.NoError(t, p.Start())
	testutil.WaitOK(t, p)
}

func TestChildWritesSharedMemory(t *testing.T) {
	c := newCell(t)
	run(t, proc.New(writeCell, c, uint32(0xC0FFEE)))
	require.Equal(t, uint32(0xC0FFEE), atomic.LoadUint32(c.W32(0)))
}

func TestChildWritesNamedSegment(t *testing.T) {
	name := testutil.ShmName(t)
	seg, err := shm.CreateNamed(name, 1<<16, nil)
	require.NoError(t, err)
	defer seg.Close()
	h, err := seg.Heap()
	require.NoError(t, err)
	ref, err := h.Alloc(64, testutil.CellKind)
	require.NoError(t, err)
	c, err := testutil.OpenCell(ref)
	require.NoError(t, err)
	run(t, proc.New(writeCell, c, uint32(42)))
	require.Equal(t, uint32(42), atomic.LoadUint32(c.W32(0)))
}

func TestChildAllocatesFromSharedHeap(t *testing.T) {
	c := newCell(t)
	run(t, proc.New(allocInChild, c, 1000))
	ref := shm.Ref{Seg: atomic.LoadUint64(dword(c, 1)), Off: atomic.LoadUint64(dword(c, 0)), Kind: testutil.CellKind,
		Gen: uint32(atomic.LoadUint64(dword(c, 2)))}
	obj, err := testutil.OpenCell(ref)
	require.NoError(t, err)
	require.Len(t, obj.Bytes(), 1000)
	for i, b := range obj.Bytes() {
		require.Equal(t, byte(i), b, "byte %d", i)
	}
	require.NoError(t, shm.Free(ref))
}

func TestFutexWakeAcrossProcesses(t *testing.T) {
	c := newCell(t)
	p, err := proc.Start(waitOnFutex, c)
	require.NoError(t, err)
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint32(c.W32(1)) == 1 }))
	// The child is (about to be) parked; it must not finish on its own.
	require.ErrorIs(t, p.Join(50*time.Millisecond), proc.ErrTimeout)
	require.Equal(t, uint32(0), atomic.LoadUint32(c.W32(2)))
	atomic.StoreUint32(c.W32(0), 1)
	_, err = futex.Wake(c.W32(0), 1)
	require.NoError(t, err)
	testutil.WaitOK(t, p)
	require.Equal(t, uint32(1), atomic.LoadUint32(c.W32(2)))
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		how    string
		code   int
		stderr []string
	}{
		{"ok", 0, nil},
		{"error", proc.ExitCodeError, []string{"the target failed on purpose"}},
		{"panic", proc.ExitCodePanic, []string{"panic: the target panicked on purpose", "proc_test.exitWith", "goroutine"}},
	} {
		t.Run(tc.how, func(t *testing.T) {
			var stderr bytes.Buffer
			p := proc.New(exitWith, tc.how)
			p.Stderr = &stderr
			require.NoError(t, p.Start())
			err := p.Wait()
			code, ok := p.ExitCode()
			require.True(t, ok)
			require.Equal(t, tc.code, code)
			if tc.code == 0 {
				require.NoError(t, err)
				return
			}
			var ee *proc.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, proc.ExitError{Name: p.Name, Pid: p.Pid(), Code: tc.code, Stderr: stderr.String()}, *ee)
			for _, want := range tc.stderr {
				require.Contains(t, stderr.String(), want)
				require.Contains(t, err.Error(), want, "the error carries the end of the child's stderr")
			}
		})
	}
	for _, tc := range []struct {
		name string
		sig  func(*proc.Process) error
		num  syscall.Signal
	}{
		{"SIGTERM", (*proc.Process).Terminate, syscall.SIGTERM},
		{"SIGKILL", (*proc.Process).Kill, syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := proc.Start(sleepFor, time.Hour)
			require.NoError(t, err)
			require.True(t, p.IsAlive())
			_, done := p.ExitCode()
			require.False(t, done)
			require.ErrorIs(t, p.WaitTimeout(0), proc.ErrTimeout)
			require.NoError(t, tc.sig(p))
			err = p.WaitTimeout(10 * time.Second)
			var ee *proc.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, proc.ExitError{Name: p.Name, Pid: p.Pid(), Code: -int(tc.num), Signal: tc.num}, *ee)
			require.Contains(t, err.Error(), "killed by signal")
			require.False(t, p.IsAlive())
			code, ok := p.ExitCode()
			require.True(t, ok)
			require.Equal(t, -int(tc.num), code)
			require.NoError(t, tc.sig(p), "signalling an ended process is a no-op")
		})
	}
}

func TestWaitForms(t *testing.T) {
	require.ErrorIs(t, proc.New(sleepFor, time.Hour).Wait(), proc.ErrNotStarted)
	p := testutil.Start(t, sleepFor, time.Hour)
	require.ErrorIs(t, p.WaitTimeout(20*time.Millisecond), proc.ErrTimeout)
	require.ErrorIs(t, p.WaitTimeout(-5*time.Second), proc.ErrBadTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.WaitContext(ctx), context.DeadlineExceeded)
	require.NoError(t, p.Kill())
	var ee *proc.ExitError
	require.ErrorAs(t, p.WaitContext(context.Background()), &ee)
	require.Equal(t, syscall.SIGKILL, ee.Signal)

	ok := testutil.Start(t, exitWith, "ok")
	require.NoError(t, ok.Wait())
	require.NoError(t, ok.Wait(), "Wait again: the same answer")
	// Without a Stderr writer of its own, the child writes straight to this process's stderr:
	// the ExitError has no tail to show.
	failed := testutil.Start(t, exitWith, "bad")
	require.ErrorAs(t, failed.Wait(), &ee)
	require.Equal(t, proc.ExitCodeError, ee.Code)
	require.Empty(t, ee.Stderr)
}

func TestJoinTimeout(t *testing.T) {
	p, err := proc.Start(sleepFor, time.Hour)
	require.NoError(t, err)
	require.ErrorIs(t, p.Join(30*time.Millisecond), proc.ErrTimeout)
	require.ErrorIs(t, p.Join(0), proc.ErrTimeout)
	require.True(t, p.IsAlive())
	require.Contains(t, proc.ActiveChildren(), p)
	require.Error(t, p.Join(-5*time.Second), "negative timeout")
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(proc.Forever))
	require.NotContains(t, proc.ActiveChildren(), p)
}

func TestIdentity(t *testing.T) {
	p := proc.New(checkIdentity, "worker-7", os.Getpid())
	p.Name = "worker-7"
	run(t, p)
	q := proc.New(checkIdentity, "", 0)
	require.NoError(t, q.Start())
	require.True(t, strings.HasPrefix(q.Name, "Process-"), q.Name)
	q.Kill()
	q.Join(proc.Forever)
	require.Equal(t, "MainProcess", proc.Current().Name)
	_, ok := proc.Parent()
	require.False(t, ok)
	require.Positive(t, proc.CPUCount())
}

func TestRunnerTarget(t *testing.T) {
	c := newCell(t)
	run(t, proc.New(&counter{N: 12, Ref: c.Ref()}))
	require.Equal(t, uint32(144), atomic.LoadUint32(c.W32(0)))
}

func TestPlainArguments(t *testing.T) {
	c := newCell(t)
	p := proc.New(plainArgs, c, "héllo", []int{1, 2, 3}, map[string]float64{"pi": 3.14}, point{1, 2, "p"}, nil)
	run(t, p)
	require.Equal(t, uint32(77), atomic.LoadUint32(c.W32(0)))
}

func TestStartRefusals(t *testing.T) {
	unregistered := func() {}
	x := 3
	closure := func() { x++ }
	for _, tc := range []struct {
		name string
		p    *proc.Process
		want error
	}{
		{"closure", proc.New(closure), proc.ErrNotRegistered},
		{"func literal", proc.New(unregistered), proc.ErrNotRegistered},
		{"unregistered func", proc.New(os.Getpid), proc.ErrNotRegistered},
		{"nil", proc.New(nil), proc.ErrNotRegistered},
		{"unregistered type", proc.New(&point{}), proc.ErrNotRegistered},
		{"too few args", proc.New(exitWith), proc.ErrBadArgs},
		{"too many args", proc.New(exitWith, "ok", 1), proc.ErrBadArgs},
		{"wrong type", proc.New(exitWith, 42), proc.ErrBadArgs},
		{"nil for a value", proc.New(sleepFor, nil), proc.ErrBadArgs},
		{"runner with args", proc.New(&counter{}, 1), proc.ErrBadArgs},
		{"channel arg", proc.New(plainArgs, nil, make(chan int), nil, nil, point{}, nil), proc.ErrBadArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Start()
			require.ErrorIs(t, err, tc.want)
			require.False(t, tc.p.IsAlive())
			require.ErrorIs(t, tc.p.Join(0), proc.ErrNotStarted)
		})
	}
	// A shared argument whose Ref no longer names a live object is refused at Start.
	ref, err := shm.Alloc(64, testutil.CellKind)
	require.NoError(t, err)
	stale, err := testutil.OpenCell(ref)
	require.NoError(t, err)
	require.NoError(t, shm.Free(ref))
	require.ErrorIs(t, proc.New(writeCell, stale, uint32(1)).Start(), proc.ErrBadArgs)

	p, err := proc.Start(sleepFor, time.Millisecond)
	require.NoError(t, err)
	require.ErrorIs(t, p.Start(), proc.ErrStarted)
	require.NoError(t, p.Join(10*time.Second))
	require.Panics(t, func() { proc.Register(closure) })
	require.Panics(t, func() { proc.Register(42) })
	require.Panics(t, func() { proc.Register(func() int { return 1 }) })
}

func TestDaemonMayNotStartChildren(t *testing.T) {
	p := proc.New(daemonTriesToSpawn)
	p.Daemon = true
	run(t, p)
}

// TestDaemonDiesWithParent SIGKILLs a child that started a daemon grandchild; the grandchild must
// be gone within a second. This test process becomes a child subreaper, so the orphaned daemon is
// reparented to it and reaped here: no zombie is left behind.
func TestDaemonDiesWithParent(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	for round := range 3 {
		c := newCell(t)
		p, err := proc.Start(spawnDaemonAndWait, c)
		require.NoError(t, err)
		require.True(t, testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint32(c.W32(0)) != 0 }))
		daemon := int(atomic.LoadUint32(c.W32(0)))
		require.True(t, testutil.Alive(daemon))
		require.NoError(t, p.Kill())
		killed := time.Now()
		require.NoError(t, p.Join(10*time.Second))
		// Reap the daemon once it is reparented to us and exits.
		var ws unix.WaitStatus
		var wpid int
		ok := testutil.Eventually(20*time.Second, func() bool {
			wpid, err = unix.Wait4(daemon, &ws, unix.WNOHANG, nil)
			return wpid == daemon
		})
		gone := time.Since(killed)
		require.True(t, ok, "round %d: daemon %d still alive %v after its parent was killed (err %v)", round, daemon, gone, err)
		// How fast is logged, not asserted (a loaded machine delays it by seconds); the exit code
		// below is what proves the daemon ended because its parent did.
		t.Logf("round %d: the daemon outlived its parent by %v", round, gone)
		require.Equal(t, proc.ExitCodeParentGone, ws.ExitStatus())
	}
}

func TestOrphanSeesParentDeath(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	c := newCell(t)
	p, err := proc.Start(spawnWatcherAndWait, c)
	require.NoError(t, err)
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint32(c.W32(0)) != 0 }))
	orphan := int(atomic.LoadUint32(c.W32(0)))
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return atomic.LoadUint32(c.W32(2)) != 0 }))
	require.Equal(t, uint32(0), atomic.LoadUint32(c.W32(1)), "parent still alive")
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(10*time.Second))
	var ws unix.WaitStatus
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		wpid, _ := unix.Wait4(orphan, &ws, unix.WNOHANG, nil)
		return wpid == orphan
	}))
	require.Equal(t, 0, ws.ExitStatus())
	require.Equal(t, uint32(1), atomic.LoadUint32(c.W32(1)), "the orphan saw its parent die")
}

func TestLargeArgumentAfterParentExits(t *testing.T) {
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	for _, size := range []int{10, 1 << 20} {
		c := newCell(t)
		run(t, proc.New(startAndExit, c, size))
		grandchild := int(atomic.LoadUint32(c.W32(3)))
		var ws unix.WaitStatus
		require.True(t, testutil.Eventually(10*time.Second, func() bool {
			wpid, _ := unix.Wait4(grandchild, &ws, unix.WNOHANG, nil)
			return wpid == grandchild
		}))
		require.Equal(t, 0, ws.ExitStatus(), "size %d", size)
		require.Equal(t, uint32(size), atomic.LoadUint32(c.W32(0)))
	}
}

func TestFileArguments(t *testing.T) {
	inR, inW, err := os.Pipe()
	require.NoError(t, err)
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	p, err := proc.Start(echoThrough, inR, outW)
	require.NoError(t, err)
	// The child has its own descriptors now: closing ours does not close its.
	inR.Close()
	outW.Close()
	_, err = io.WriteString(inW, "hello through a pipe\n")
	require.NoError(t, err)
	inW.Close()
	got, err := io.ReadAll(outR) // EOF once the child exits: it held the only write end left
	require.NoError(t, err)
	outR.Close()
	require.Equal(t, "HELLO THROUGH A PIPE\n", string(got))
	testutil.WaitOK(t, p)
	// A file where the target wants something a file is not is refused at Start.
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer f.Close()
	require.ErrorIs(t, proc.New(exitWith, f).Start(), proc.ErrBadArgs)
}
