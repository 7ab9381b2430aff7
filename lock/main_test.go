package lock_test

import (
	"os"
	"runtime"
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

// cell is the tests' shared bookkeeping: counters, flags, pids.
type cell = testutil.Cell

func newCell(t testing.TB) *cell { return testutil.NewCell(t, 256) }

// incr adds 1 to word i with a separate load and store: not atomic, so concurrent unprotected
// increments lose updates, and the count proves (or disproves) mutual exclusion.
func incr(c *cell, i int) { c.Set(i, c.Get(i)+1) }

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
	testutil.WaitOK(t, p)
}

// killJoin SIGKILLs p and waits for it.
func killJoin(t testing.TB, p *proc.Process) {
	t.Helper()
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(30*time.Second))
}

// deadBound is the promise the kill tests check: once a holder dies, a waiter gets what it held
// within a second (waiters probe the holder at least every 100 ms). The waiter
// starts waiting just before the kill, so its timeout is this bound.
const deadBound = time.Second

// awaitStart counts this process in as ready (word 5) and spins until the test sets the start
// flag (word 3), so that the processes of a contention test begin together.
func awaitStart(c *cell) {
	atomic.AddUint32(c.W32(5), 1)
	for c.Get(3) == 0 {
		runtime.Gosched()
	}
}

// killWhileWaiting runs the kill test rounds times: a child runs holder(args...), which takes
// what it holds, sets word 1 and sleeps; a goroutine here starts waiting (wait, bounded by
// deadBound) and the child is SIGKILLed. wait must come back with nil, holding what the child
// held, and recovered (when not nil) must report the takeover; after checks and releases it.
func killWhileWaiting(t *testing.T, c *cell, rounds int, wait func() error, recovered func() bool, after func(), holder any, args ...any) {
	t.Helper()
	for i := range rounds {
		c.Set(1, 0)
		p := start(t, holder, args...)
		c.WaitFor(t, 1, 1)
		// Wait from the start, kill while waiting: the waiter must notice by itself.
		got := make(chan error, 1)
		go func() { got <- wait() }()
		time.Sleep(time.Millisecond)
		require.NoError(t, p.Kill())
		require.NoErrorf(t, <-got, "round %d", i)
		if recovered != nil {
			require.Truef(t, recovered(), "round %d: Recovered", i)
		}
		after()
		require.NoError(t, p.Join(proc.Forever))
	}
}

// start starts a child that is killed and reaped when the test ends with it still running.
var start = testutil.Start

// freeAtEnd frees x when the test ends: after the Cleanups registered later, among them those
// of the children started later (start), which a deferred Free would precede.
func freeAtEnd(t testing.TB, x interface{ Free() error }) {
	t.Helper()
	t.Cleanup(func() { x.Free() })
}
