package value_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/value"
)

// python runs testdata/interop.py with args and fails the test on a non-zero exit or on anything
// Python writes to stderr (the resource tracker's "leaked shared_memory" warnings among others).
func python(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.Python3(t, "the Python interop test"), append([]string{filepath.Join("testdata", "interop.py")}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("python3 interop.py %s:\n%s", strings.Join(args, " "), out)
	require.NoError(t, err, "stderr: %s", stderr.String())
	require.Empty(t, stderr.String(), "python3 wrote to stderr")
	return string(out)
}

// TestPythonReadsNamedArrays: Go creates named Arrays of float64 and int32; Python attaches with
// multiprocessing.shared_memory, checks the header, reads every element with struct (and numpy
// when installed), writes ten back, and Go sees them.
func TestPythonReadsNamedArrays(t *testing.T) {
	testutil.Python3(t, "the Python interop test")
	const n = 1000
	fn := testutil.ShmName(t)
	f, err := value.NewNamedArray[float64](fn, n, nil)
	require.NoError(t, err)
	defer f.Close()
	in := testutil.ShmName(t)
	i32, err := value.NewNamedArray[int32](in, n, nil)
	require.NoError(t, err)
	defer i32.Close()
	for i := range n {
		f.Set(i, float64(i)*0.5-3)
		i32.Set(i, int32(i*3-7))
	}

	out := python(t, "read", fn, "d", strconv.Itoa(n))
	require.Contains(t, out, "data at "+strconv.Itoa(value.FirstDataOffset))
	out = python(t, "read", in, "i", strconv.Itoa(n))
	require.Contains(t, out, "struct: read all 1000 elements")

	for i := range n {
		if i < 10 {
			require.Equal(t, float64(-(i+1)*100), f.At(i), "element %d", i)
			require.Equal(t, int32(-(i+1)*100), i32.At(i), "element %d", i)
		} else {
			require.Equal(t, float64(i)*0.5-3, f.At(i), "element %d", i)
			require.Equal(t, int32(i*3-7), i32.At(i), "element %d", i)
		}
	}
}

// TestGoAttachesToPythonMemory: the other way round. Python makes a plain segment of doubles
// and int32s; Go maps both parts with OpenForeignArray, checks and rewrites them, and Python
// checks Go's writes.
func TestGoAttachesToPythonMemory(t *testing.T) {
	testutil.Python3(t, "the Python interop test")
	const n = 257
	name := testutil.ShmName(t)
	defer os.Remove(filepath.Join("/dev/shm", name)) // Python left it for us to unlink
	python(t, "create", name, strconv.Itoa(n))

	d, err := value.OpenForeignArray[float64](name, 0, n)
	require.NoError(t, err)
	defer d.Close()
	i32, err := value.OpenForeignArray[int32](name, 8*n, n)
	require.NoError(t, err)
	defer i32.Close()
	require.True(t, d.Ref().IsZero())
	for i := range n {
		require.Equal(t, float64(i)*1.5, d.At(i))
		require.Equal(t, int32(-i), i32.At(i))
		d.Set(i, -d.At(i))
		i32.Set(i, int32(2*i))
	}
	python(t, "check", name, strconv.Itoa(n))

	// Layouts that do not fit the file are refused.
	_, err = value.OpenForeignArray[float64](name, 0, 2*n)
	require.ErrorIs(t, err, value.ErrLength)
	_, err = value.OpenForeignArray[int32](name, 2, 1)
	require.ErrorIs(t, err, value.ErrMismatch)
	_, err = value.OpenForeignArray[int32](name, -4, 1)
	require.ErrorIs(t, err, value.ErrLength)
	_, err = value.OpenForeignArray[int32](name, 12*n, 1)
	require.ErrorIs(t, err, value.ErrLength)
	// One-byte elements up to the file's last byte: the last three are in a partial 4-byte word.
	b, err := value.OpenForeignArray[uint8](name, 1, 12*n+2)
	require.NoError(t, err)
	for i := 12*n - 4; i < 12*n+2; i++ {
		b.Set(i, uint8(i))
		require.Equal(t, uint8(i), b.At(i))
	}
	require.Equal(t, uint8((12*n+1)%256), b.Slice()[12*n+1])
	require.NoError(t, b.Close())
}
