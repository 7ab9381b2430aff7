package lock_test

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/shm"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// cell is a small shared block of words for the tests: counters, flags, pids.
type cell struct {
	ref shm.Ref
	b   []byte
}

var cellKind shm.Kind

func init() {
	cellKind = shm.RegisterKind("lock_test.cell", func(r shm.Ref) (any, error) { return openCell(r) })
}

func openCell(r shm.Ref) (*cell, error) {
	_, b, err := shm.Resolve(r, cellKind)
	if err != nil {
		return nil, err
	}
	return &cell{ref: r, b: b}, nil
}

// allocCell allocates a cell's block (the caller frees it).
func allocCell() (shm.Ref, error) { return shm.Alloc(256, cellKind) }

func newCell(t testing.TB) *cell {
	t.Helper()
	ref, err := allocCell()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, shm.Free(ref)) })
	c, err := openCell(ref)
	require.NoError(t, err)
	return c
}

func (c *cell) Ref() shm.Ref        { return c.ref }
func (c *cell) w(i int) *uint32     { return shm.Word32(c.b, 4*i) }
func (c *cell) get(i int) uint32    { return atomic.LoadUint32(c.w(i)) }
func (c *cell) set(i int, v uint32) { atomic.StoreUint32(c.w(i), v) }

// incr adds 1 to word i with a separate load and store: not atomic, so concurrent unprotected
// increments lose updates, and the count proves (or disproves) mutual exclusion.
func (c *cell) incr(i int) { c.set(i, c.get(i)+1) }

// waitFor polls word i until it holds v (another process's progress), failing after 10 s.
func (c *cell) waitFor(t testing.TB, i int, v uint32) {
	t.Helper()
	require.True(t, testutil.Eventually(10e9, func() bool { return c.get(i) == v }), "word %d never reached %d (is %d)", i, v, c.get(i))
}

// raw returns the shared bytes behind a lock object, to corrupt them on purpose.
func raw(t testing.TB, r shm.Shared) []byte {
	t.Helper()
	_, b, err := shm.Resolve(r.Ref(), r.Ref().Kind)
	require.NoError(t, err)
	return b
}

// threads returns the number of OS threads of this process (from /proc/self/status).
func threads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// joinOK waits for p and requires a clean exit.
func joinOK(t testing.TB, p *proc.Process) {
	t.Helper()
	require.NoError(t, p.Join(30*time.Second))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code, "child exit code")
}

// killJoin SIGKILLs p and waits for it.
func killJoin(t testing.TB, p *proc.Process) {
	t.Helper()
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(30*time.Second))
}
