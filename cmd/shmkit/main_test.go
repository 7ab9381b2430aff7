package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var _ = proc.Register(createAndHang)

// createAndHang creates a named segment and waits to be killed.
func createAndHang(name string) error {
	if _, err := shm.CreateNamed(name, 8192, nil); err != nil {
		return err
	}
	time.Sleep(time.Hour)
	return nil
}

// shmkit runs the command and returns its output; it fails the test on a nonzero exit.
func shmkit(t *testing.T, args ...string) string {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(args, &out, &errOut), "shmkit %v: %s", args, errOut.String())
	return out.String()
}

func lsJSON(t *testing.T) map[string]shm.NamedInfo {
	var l listing
	require.NoError(t, json.Unmarshal([]byte(shmkit(t, "ls", "--json")), &l))
	m := map[string]shm.NamedInfo{}
	for _, s := range l.Named {
		m[s.Name] = s
	}
	return m
}

// A segment left by a SIGKILLed creator is listed as stale, survives clean --dry-run and is removed
// by clean; a segment whose creator is dead but which this process still maps, and one whose
// creator is alive, are never removed.
func TestLsAndClean(t *testing.T) {
	dead, mapped := testutil.ShmName(t), testutil.ShmName(t)
	for _, n := range []string{dead, mapped} {
		t.Cleanup(func() { os.Remove(filepath.Join(shm.DevShm, n)) })
		p, err := proc.Start(createAndHang, n)
		require.NoError(t, err)
		require.True(t, testutil.Eventually(10*time.Second, func() bool { _, ok := lsJSON(t)[n]; return ok }))
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(10*time.Second))
	}
	m, err := shm.OpenNamed(mapped)
	require.NoError(t, err)
	defer m.Close()
	live := testutil.ShmName(t)
	l, err := shm.CreateNamed(live, 8192, nil)
	require.NoError(t, err)
	defer l.Close()

	got := lsJSON(t)
	require.True(t, got[dead].Stale)
	require.False(t, got[dead].CreatorAlive)
	require.Equal(t, uint64(8192), got[dead].Size)
	require.True(t, got[mapped].InUse)
	require.False(t, got[mapped].Stale)
	require.Equal(t, os.Getpid(), got[live].Creator)
	require.True(t, got[live].CreatorAlive)
	table := shmkit(t, "ls")
	require.Contains(t, table, "CREATOR ALIVE")
	require.Contains(t, table, dead)

	var r cleanResult
	require.NoError(t, json.Unmarshal([]byte(shmkit(t, "clean", "--dry-run", "--json")), &r))
	require.True(t, r.DryRun)
	require.Contains(t, r.Removed, dead)
	require.NotContains(t, r.Removed, mapped)
	require.NotContains(t, r.Removed, live)
	_, err = os.Stat(filepath.Join(shm.DevShm, dead))
	require.NoError(t, err, "--dry-run removed a segment")

	out := shmkit(t, "clean")
	require.Contains(t, out, "removed "+dead+"\n")
	require.NotContains(t, out, mapped)
	require.NotContains(t, out, live)
	_, err = os.Stat(filepath.Join(shm.DevShm, dead))
	require.ErrorIs(t, err, os.ErrNotExist)
	for _, n := range []string{mapped, live} {
		_, err = os.Stat(filepath.Join(shm.DevShm, n))
		require.NoError(t, err, "clean removed %s, which is in use", n)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"rm"}, {"ls", "--dry-run"}, {"ls", "one", "two"}} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(args, &out, &errOut), "%v", args)
		require.True(t, strings.Contains(errOut.String(), "usage") || strings.Contains(errOut.String(), "flag"), "%v: %q", args, errOut.String())
	}
}
