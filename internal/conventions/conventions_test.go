// Package conventions holds the tests that keep shmkit's public packages to one convention: one
// Forever, one ErrTimeout, one ErrBadTimeout, corruption errors that match shm.ErrCorrupt, and
// "not supported" errors that match errors.ErrUnsupported. A new package adds its values here.
package conventions

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/futex"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
	"github.com/shmkit/shmkit/ring"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

func TestOneForever(t *testing.T) {
	for name, f := range map[string]time.Duration{
		"futex": futex.Forever, "proc": proc.Forever, "lock": lock.Forever, "ring": ring.Forever,
		"pool": pool.Forever, "manager": manager.Forever,
		"dist": dist.Forever,
	} {
		if f != -1 {
			t.Errorf("%s.Forever = %v, want -1", name, f)
		}
	}
}

func TestOneTimeoutError(t *testing.T) {
	for name, err := range map[string]error{
		"proc": proc.ErrTimeout, "lock": lock.ErrTimeout, "ring": ring.ErrTimeout,
		"pool": pool.ErrTimeout, "manager": manager.ErrTimeout,
		"dist": dist.ErrTimeout,
	} {
		if err != futex.ErrTimeout {
			t.Errorf("%s.ErrTimeout is not the one value", name)
		}
		for _, target := range []error{os.ErrDeadlineExceeded, context.DeadlineExceeded} {
			if !errors.Is(err, target) {
				t.Errorf("%s.ErrTimeout does not match %v", name, target)
			}
		}
	}
	for name, err := range map[string]error{
		"proc": proc.ErrBadTimeout, "lock": lock.ErrBadTimeout, "ring": ring.ErrBadTimeout,
		"pool": pool.ErrBadTimeout, "manager": manager.ErrBadTimeout,
		"dist": dist.ErrBadTimeout,
	} {
		if err != futex.ErrBadTimeout {
			t.Errorf("%s.ErrBadTimeout is not the one value", name)
		}
	}
}

// Every blocking call refuses a negative timeout other than Forever with ErrBadTimeout, and
// times out with an error that matches ErrTimeout and says what timed out.
func TestTimeoutArguments(t *testing.T) {
	var word uint32
	if err := futex.Wait(&word, 0, -2); !errors.Is(err, futex.ErrBadTimeout) {
		t.Errorf("futex.Wait(-2) = %v, want ErrBadTimeout", err)
	}
	if err := futex.Wait(&word, 0, time.Millisecond); !errors.Is(err, futex.ErrTimeout) {
		t.Errorf("futex.Wait(1ms) = %v, want ErrTimeout", err)
	}
	l, err := lock.NewLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	if err := l.LockTimeout(-5 * time.Second); !errors.Is(err, lock.ErrBadTimeout) {
		t.Errorf("Lock.LockTimeout(-5s) = %v, want ErrBadTimeout", err)
	}
	q, err := ring.NewQueue(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	if _, err := q.GetTimeout(-3); !errors.Is(err, ring.ErrBadTimeout) {
		t.Errorf("Queue.GetTimeout(-3) = %v, want ErrBadTimeout", err)
	}
	if _, err := q.GetTimeout(time.Millisecond); !errors.Is(err, ring.ErrTimeout) {
		t.Errorf("Queue.GetTimeout(1ms) on an empty queue = %v, want ErrTimeout", err)
	}
}

func TestCorruptionMatchesShm(t *testing.T) {
	for name, err := range map[string]error{
		"ring": ring.ErrCorrupt, "value": value.ErrCorrupt, "lock": lock.ErrCorrupt,
		"pool": pool.ErrCorrupt, "manager": manager.ErrCorrupt,
		"dist": dist.ErrCorrupt,
	} {
		if !errors.Is(err, shm.ErrCorrupt) {
			t.Errorf("%s.ErrCorrupt does not match shm.ErrCorrupt", name)
		}
	}
}

func TestUnsupportedMatchesStdlib(t *testing.T) {
	for name, err := range map[string]error{
		"shm": shm.ErrUnsupported, "futex": futex.ErrUnsupported, "proc": proc.ErrUnsupported,
		"manager": manager.ErrUnsupported,
	} {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s.ErrUnsupported does not match errors.ErrUnsupported", name)
		}
	}
}

// Every package names its bad-argument error ErrBadArgs, with the message "<package>: bad
// arguments", and each is its own value (errors.Is tells which package refused).
func TestBadArgs(t *testing.T) {
	for name, err := range map[string]error{
		"proc": proc.ErrBadArgs, "lock": lock.ErrBadArgs, "ring": ring.ErrBadArgs, "pool": pool.ErrBadArgs,
		"dist": dist.ErrBadArgs,
	} {
		if got, want := err.Error(), name+": bad arguments"; got != want {
			t.Errorf("%s.ErrBadArgs says %q, want %q", name, got, want)
		}
	}
}

// dist's sentinels say when they are returned ("dist: ..."), each its own value.
func TestDistSentinels(t *testing.T) {
	seen := map[error]string{}
	for name, err := range map[string]error{
		"ErrAuth": dist.ErrAuth, "ErrNoServer": dist.ErrNoServer, "ErrRefused": dist.ErrRefused,
		"ErrBadArgs": dist.ErrBadArgs, "ErrCorrupt": dist.ErrCorrupt, "ErrNotFound": dist.ErrNotFound,
	} {
		if msg := err.Error(); len(msg) < 7 || msg[:6] != "dist: " {
			t.Errorf("dist.%s says %q, which does not start with \"dist: \"", name, msg)
		}
		if other, dup := seen[err]; dup {
			t.Errorf("dist.%s and dist.%s are one value", name, other)
		}
		seen[err] = name
	}
}
