package bench_test

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/proc"
)

// TestMain runs proc.Main first: the two-process benchmarks start this test binary again as
// their peer.
func TestMain(m *testing.M) { testutil.Main(m) }

var _ = proc.Register(pipeEcho)

// pipeEcho echoes n one-byte messages from r to w: the peer of every pipe ping-pong baseline.
func pipeEcho(r, w *os.File, n int) error {
	defer r.Close()
	defer w.Close()
	var buf [1]byte
	for range n {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return err
		}
		if _, err := w.Write(buf[:]); err != nil {
			return err
		}
	}
	return nil
}

// benchPipePingPong is the OS's baseline for every ping-pong benchmark: one op is a one-byte
// write and read each way over two os.Pipe pipes, a child process echoing.
func benchPipePingPong(b *testing.B) {
	toR, toW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	p, err := proc.Start(pipeEcho, toR, fromW, b.N)
	toR.Close() // the child has its own descriptors of these ends
	fromW.Close()
	if err != nil {
		b.Fatal(err)
	}
	defer toW.Close()
	defer fromR.Close()
	var buf [1]byte
	b.ResetTimer()
	for range b.N {
		if _, err := toW.Write(buf[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(fromR, buf[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	joinPeer(b, p)
}

// joinPeer waits for a benchmark's peer process and fails the benchmark if it failed.
func joinPeer(b *testing.B, p *proc.Process) {
	b.Helper()
	testutil.WaitOK(b, p)
}

// python runs bench/python/<script> under python3 with args and returns the want numbers it
// prints (its own timings, start-up excluded). Without python3 it skips the benchmark, naming the
// baseline that is missing, or fails it where SHMKIT_REQUIRE_PYTHON is set (testutil.Python3).
func python(b *testing.B, baseline, script string, want int, args ...string) []float64 {
	b.Helper()
	py := testutil.Python3(b, "the CPython "+baseline+" baseline")
	out, err := exec.Command(py, append([]string{"python/" + script}, args...)...).Output()
	if err != nil {
		b.Fatalf("python/%s: %v: %s", script, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != want {
		b.Fatalf("python/%s said %q, want %d numbers", script, out, want)
	}
	v := make([]float64, want)
	for i := range f {
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			b.Fatalf("python/%s said %q", script, out)
		}
	}
	return v
}
