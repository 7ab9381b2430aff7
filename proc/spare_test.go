package proc_test

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/pids"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

var (
	_ = proc.Register(notePid)
	_ = proc.Register(leaveSpare)
	_ = proc.Register(checkSelfStart)
)

// checkSelfStart fails unless the start time the parent passed (pids.SelfStart) is the one this
// process's /proc entry gives. The cell makes the child inherit a segment: only such a child is
// given its start time.
func checkSelfStart(_ *cell) error {
	got := pids.SelfStart()
	want, err := pids.StartTime(os.Getpid())
	if err != nil || got != want || got == 0 {
		return fmt.Errorf("SelfStart %d, /proc says %d (%v)", got, want, err)
	}
	return nil
}

// TestChildStartTime: a child's start time comes from its parent (spared a read of /proc at each
// start), and it is the child's own, started cold or in a warm spare.
func TestChildStartTime(t *testing.T) {
	c := newCell(t)
	run := func() {
		t.Helper()
		var stderr bytes.Buffer
		p := proc.New(checkSelfStart, c)
		p.Stderr = &stderr
		require.NoError(t, p.Start())
		require.NoError(t, p.Join(proc.Forever))
		code, _ := p.ExitCode()
		require.Equal(t, 0, code, stderr.String())
	}
	run()
	require.NoError(t, proc.SetWarmSpare(true))
	defer proc.SetWarmSpare(false)
	spare := spareNow(t)
	p := proc.New(checkSelfStart, c)
	require.NoError(t, p.Start())
	require.Equal(t, spare, p.Pid(), "the Start did not run in the spare")
	require.NoError(t, p.Join(proc.Forever))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code)
}

// notePid stores this process's pid in word i of the cell.
func notePid(c *cell, i int) { c.Set(i, uint32(os.Getpid())) }

// leaveSpare switches the warm spare on, notes the spare's pid in word 0, and returns: the
// process exits with its spare untaken.
func leaveSpare(c *cell) error {
	if err := proc.SetWarmSpare(true); err != nil {
		return err
	}
	c.Set(0, uint32(testutil.Children()[0]))
	return nil
}

// spareNow waits until there is a spare and returns its pid.
func spareNow(t *testing.T) int {
	t.Helper()
	var pid int
	if !testutil.Eventually(10*time.Second, func() bool { pid = proc.SparePid(); return pid != 0 }) {
		t.Fatalf("no spare: children %v", testutil.Children())
	}
	return pid
}

// runNote starts notePid in a child, with setup applied to the Process, waits for it, and returns
// the pid it noted.
func runNote(t *testing.T, c *cell, setup func(*proc.Process)) int {
	t.Helper()
	c.Set(1, 0)
	p := proc.New(notePid, c, 1)
	if setup != nil {
		setup(p)
	}
	require.NoError(t, p.Start())
	require.NoError(t, p.Join(proc.Forever))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code)
	return int(c.Get(1))
}

// TestWarmSpare: a Start the spare fits runs in it, and a new spare follows; Starts it does not
// fit (Stderr set, a segment made after the spare) run cold, the second replacing the spare; a
// spare killed before it is taken costs nothing but a cold Start; off, no spare is left.
func TestWarmSpare(t *testing.T) {
	c := newCell(t)
	require.NoError(t, proc.SetWarmSpare(true))
	defer proc.SetWarmSpare(false)
	for range 3 {
		spare := spareNow(t)
		require.Equal(t, spare, runNote(t, c, nil), "the Start did not run in the spare")
	}

	spare := spareNow(t)
	var buf bytes.Buffer
	got := runNote(t, c, func(p *proc.Process) { p.Stderr = &buf })
	require.NotEqual(t, spare, got, "a Process with its own Stderr ran in the spare")
	require.Equal(t, spare, spareNow(t), "the spare was replaced by a Start it does not fit")

	seg, err := shm.Create(4096, nil)
	require.NoError(t, err)
	defer seg.Close()
	require.NotEqual(t, spare, runNote(t, c, nil), "a Start with a segment the spare lacks ran in it")
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return notMine(spare) }), "the old spare was not ended")
	spare = spareNow(t)
	require.Equal(t, spare, runNote(t, c, nil), "the new spare, with the segment, was not used")

	spare = spareNow(t)
	require.NoError(t, syscall.Kill(spare, syscall.SIGKILL))
	// Reaped: until then its threads may still hold its end of the spec channel, and a Start
	// would hand it the spec and report the kill as its process's end.
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return notMine(spare) }), "the dead spare was not reaped")
	require.NotEqual(t, spare, runNote(t, c, nil), "a Start ran in a dead spare")

	spareNow(t)
	require.NoError(t, proc.SetWarmSpare(false))
	require.Empty(t, testutil.Children(), "a spare left after SetWarmSpare(false)")
}

// notMine reports whether pid is no longer a child of this process (reaped, or never was).
func notMine(pid int) bool { return testutil.PPid(pid) != os.Getpid() }

// TestWarmSpareParentExits: a spare nobody takes exits, silently, when its parent does.
func TestWarmSpareParentExits(t *testing.T) {
	c := newCell(t)
	var stderr bytes.Buffer
	p := proc.New(leaveSpare, c)
	p.Stderr = &stderr
	require.NoError(t, p.Start())
	require.NoError(t, p.Join(proc.Forever)) // its stderr pipe closes once the spare is gone too
	code, _ := p.ExitCode()
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	spare := int(c.Get(0))
	require.NotZero(t, spare)
	require.True(t, testutil.Eventually(10*time.Second, func() bool { return !testutil.Alive(spare) }), "the spare outlived its parent")
	require.Empty(t, stderr.String(), "the spare wrote on its way out")
}

// BenchmarkStartWarmSpare: Start and Join of a target that returns at once, cold and in a warm
// spare started (and given time to boot) beforehand. The two take turns in each op, so both see
// the same load; the metrics are the medians.
func BenchmarkStartWarmSpare(b *testing.B) {
	c := testutil.NewCell(b, 256)
	var lat [2][]float64
	run := func() {
		p, err := proc.Start(notePid, c, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Join(proc.Forever); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		for i, on := range []bool{false, true} {
			b.StopTimer()
			if err := proc.SetWarmSpare(on); err != nil {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the spare's runtime is up, even on a loaded machine
			b.StartTimer()
			t0 := time.Now()
			run()
			lat[i] = append(lat[i], float64(time.Since(t0).Microseconds()))
		}
	}
	if err := proc.SetWarmSpare(false); err != nil {
		b.Fatal(err)
	}
	for i, name := range []string{"cold", "spare"} {
		sort.Float64s(lat[i])
		b.ReportMetric(lat[i][len(lat[i])/2], "µs/"+name)
	}
}
