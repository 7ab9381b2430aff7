package bench_test

import (
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
)

// TestMain runs proc.Main first: the two-process benchmarks start this test binary again as
// their peer.
func TestMain(m *testing.M) { testutil.Main(m) }
