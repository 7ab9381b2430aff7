package proc_test

import (
	"bytes"
	"context"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
)

var (
	_ = proc.Register(exitWhenSet)
	_ = proc.Register(ignoreTerm)
)

// exitWhenSet waits until word 0 of c is set, then ends as exitWith(how).
func exitWhenSet(c *cell, how string) error {
	for c.Get(0) == 0 {
		time.Sleep(time.Millisecond)
	}
	return exitWith(how)
}

// ignoreTerm ignores SIGTERM, says so in word 1, and sleeps.
func ignoreTerm(c *cell) {
	signal.Ignore(syscall.SIGTERM)
	c.Set(1, 1)
	time.Sleep(time.Hour)
}

func exitCode(t *testing.T, p *proc.Process) int {
	t.Helper()
	code, ok := p.ExitCode()
	require.True(t, ok, "%v has not ended", p)
	return code
}

// TestShutdownJoins: Shutdown terminates daemons at once, waits for the non-daemon children to
// end on their own, and reports the one that failed.
func TestShutdownJoins(t *testing.T) {
	c := newCell(t)
	ok := testutil.Start(t, exitWhenSet, c, "ok")
	var stderr bytes.Buffer
	bad := proc.New(exitWhenSet, c, "error")
	bad.Stderr = &stderr
	require.NoError(t, bad.Start())
	d := proc.New(sleepFor, time.Hour)
	d.Daemon = true
	require.NoError(t, d.Start())

	done := make(chan error, 1)
	go func() { done <- proc.Shutdown(proc.Forever) }()
	require.True(t, testutil.Eventually(30*time.Second, func() bool { return !d.IsAlive() }), "the daemon was not terminated")
	require.Equal(t, -int(syscall.SIGTERM), exitCode(t, d))
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before the non-daemon children ended: %v", err)
	default:
	}
	c.Set(0, 1)
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Shutdown did not return once the children ended")
	}
	require.NotErrorIs(t, err, proc.ErrLeftRunning)
	var ee *proc.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, bad.Pid(), ee.Pid)
	require.Equal(t, proc.ExitCodeError, ee.Code)
	require.Contains(t, ee.Stderr, "the target failed on purpose")
	require.Equal(t, 0, exitCode(t, ok))
	require.Empty(t, proc.ActiveChildren())

	require.NoError(t, proc.Shutdown(0), "no children: nothing to do")
	require.ErrorIs(t, proc.Shutdown(-2*time.Second), proc.ErrBadTimeout)
}

// TestShutdownTerminatesAndKills: a non-daemon child still running when the wait ends is
// terminated; one that ignores SIGTERM is killed after the grace period; both are named.
func TestShutdownTerminatesAndKills(t *testing.T) {
	c := newCell(t)
	sleeper := testutil.Start(t, sleepFor, time.Hour)
	stubborn := testutil.Start(t, ignoreTerm, c)
	c.WaitFor(t, 1, 1)
	err := proc.Shutdown(50 * time.Millisecond)
	require.ErrorIs(t, err, proc.ErrLeftRunning)
	require.Contains(t, err.Error(), sleeper.Name+" (pid ")
	require.Contains(t, err.Error(), "still running after 50ms: terminated (SIGTERM)")
	require.Contains(t, err.Error(), stubborn.Name+" (pid ")
	require.Contains(t, err.Error(), "after SIGTERM: killed (SIGKILL)")
	require.Equal(t, -int(syscall.SIGTERM), exitCode(t, sleeper))
	require.Equal(t, -int(syscall.SIGKILL), exitCode(t, stubborn))
	require.Empty(t, proc.ActiveChildren())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	again := testutil.Start(t, sleepFor, time.Hour)
	err = proc.ShutdownContext(ctx)
	require.ErrorIs(t, err, proc.ErrLeftRunning)
	require.Contains(t, err.Error(), "when the context ended (context canceled): terminated")
	require.Equal(t, -int(syscall.SIGTERM), exitCode(t, again))
}
