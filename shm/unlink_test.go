package shm_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

// createNamedAndWait creates the named segment name in a child and keeps it until the parent
// kills it, so that the name belongs to another program.
var _ = proc.Register(createNamedAndWait)

func createNamedAndWait(name string) error {
	if _, err := shm.CreateNamed(name, 8192, nil); err != nil {
		return err
	}
	for {
		time.Sleep(time.Hour)
	}
}

// Issue 10, item 3: the creator's Close (and Unlink) must remove only the file it created. Here
// the creator's name is removed behind its back (as Python's resource tracker or an operator
// does) and another program creates a new segment under the same name: the creator's Close and
// Unlink leave that segment alone.
func TestCloseLeavesAReusedName(t *testing.T) {
	name := testutil.ShmName(t)
	path := filepath.Join(shm.DevShm, name)
	mine, err := shm.CreateNamed(name, 8192, nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(path), "the name removed behind the creator's back")

	other, err := proc.Start(createNamedAndWait, name)
	require.NoError(t, err)
	t.Cleanup(func() { other.Kill(); other.Join(proc.Forever); os.Remove(path) })
	require.True(t, testutil.Eventually(10*time.Second, func() bool {
		s, err := shm.OpenNamed(name)
		if err == nil {
			s.Close()
		}
		return err == nil
	}), "the other program's segment appears")
	theirs, err := os.Stat(path)
	require.NoError(t, err)

	require.NoError(t, mine.Unlink(), "a name that is not ours is not an error")
	require.NoError(t, mine.Close())
	now, err := os.Stat(path)
	require.NoError(t, err, "the creator's Close removed another program's segment")
	require.True(t, os.SameFile(theirs, now))

	// The other program's segment is intact and still opens.
	s, err := shm.OpenNamed(name)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, other.Kill())
	require.NoError(t, other.Join(proc.Forever))
	code, _ := other.ExitCode()
	require.Equal(t, -9, code, "the child died of the kill, not of something else")
	require.NoError(t, os.Remove(path))
}

// A name that still refers to the creator's segment is removed by its Close, and by Unlink; a
// name that is gone already is not an error.
func TestCloseRemovesItsOwnName(t *testing.T) {
	name := testutil.ShmName(t)
	path := filepath.Join(shm.DevShm, name)
	s, err := shm.CreateNamed(name, 8192, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)

	s, err = shm.CreateNamed(name, 8192, nil)
	require.NoError(t, err)
	require.NoError(t, s.Unlink())
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, s.Unlink(), "already gone")
	require.NoError(t, s.Close(), "already gone")
	require.ErrorIs(t, s.Unlink(), shm.ErrClosed)

	// Nothing is left under a temporary name either.
	left, err := filepath.Glob(filepath.Join(shm.DevShm, ".shmkit-unlink-*"))
	require.NoError(t, err)
	require.Empty(t, left)
}
