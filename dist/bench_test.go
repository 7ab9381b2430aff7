package dist_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/dist"
	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/pool"
)

var _ = dist.Register(sq64)

func sq64(n int64) (int64, error) { return n * n, nil }

// python runs bench/python/dist_basemanager.py's baseline what over n ops and reports the
// nanoseconds per op the script timed (without Python's start-up) as the sub-benchmark's
// ns/op. n is fixed, not b.N: the script's cost does not depend on b.N, and a b.N grown for an
// empty loop would make it run for hours.
func python(b *testing.B, what string, n int) {
	py := testutil.Python3(b, "the CPython BaseManager "+what+" baseline")
	out, err := exec.Command(py, "../bench/python/dist_basemanager.py", what, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		b.Fatalf("dist_basemanager.py %s: %v: %s", what, err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("dist_basemanager.py %s said %q", what, out)
	}
	b.ReportMetric(ns, "ns/op")
}

// distPool starts an embedded server, 2 worker processes (4 slots each) and a pool on it, its
// streams in memory when memory is true.
func distPool(b *testing.B, name string, memory bool) *dist.Pool {
	s := serve(b)
	workers(b, []string{s.URL()}, dist.PoolOptions{Name: name, AckWait: 30 * time.Second, Memory: memory}, 2, 4)
	p := newPool(b, s, &dist.PoolOptions{Name: name, Workers: 8, Memory: memory})
	if _, err := dist.Apply(p, sq64, 3); err != nil { // the workers are up
		b.Fatal(err)
	}
	return p
}

// mapOps runs b.N tiny tasks through mapFn in one call and checks every result; ns/op is per
// task.
func mapOps(b *testing.B, mapFn func([]int64) ([]int64, error)) {
	items := make([]int64, b.N)
	for i := range items {
		items[i] = int64(i)
	}
	b.ResetTimer()
	got, err := mapFn(items)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for i, v := range got {
		if v != int64(i)*int64(i) {
			b.Fatalf("result %d = %d", i, v)
		}
	}
}

// BenchmarkDistPool: tasks per second through a pool with 2 worker processes, tiny tasks (one
// int64 squared); ns/op is per task. /nats is the distributed pool on an embedded NATS server
// with one task per message, as /python, CPython's BaseManager queues, carries them;
// /nats-memory the same with the pool's streams in the server's memory (PoolOptions.Memory).
// /nats-chunked and /shmkit are Map as a program calls it, with the default chunking
// (Python's len/(4*workers)): the distributed pool and the local one (shared-memory rings).
func BenchmarkDistPool(b *testing.B) {
	b.Run("nats", func(b *testing.B) {
		p := distPool(b, "bench", false)
		mapOps(b, func(xs []int64) ([]int64, error) { return dist.Map(p, sq64, xs, pool.ChunkSize(1)) })
	})
	b.Run("nats-memory", func(b *testing.B) {
		p := distPool(b, "benchm", true)
		mapOps(b, func(xs []int64) ([]int64, error) { return dist.Map(p, sq64, xs, pool.ChunkSize(1)) })
	})
	b.Run("nats-chunked", func(b *testing.B) {
		p := distPool(b, "benchc", false)
		mapOps(b, func(xs []int64) ([]int64, error) { return dist.Map(p, sq64, xs) })
	})
	b.Run("shmkit", func(b *testing.B) {
		p, err := pool.New(&pool.Options{Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Terminate()
		mapOps(b, func(xs []int64) ([]int64, error) { return pool.Map(p, sq64, xs) })
	})
	b.Run("python", func(b *testing.B) { python(b, "tasks", 10000) })
}

// BenchmarkDistPoolRoundTrip: one tiny task submitted and its result received, in a row:
// /nats Apply on the distributed pool (/nats-memory: its streams in memory), /shmkit on the
// local pool, /python a BaseManager queue put and a result queue get.
func BenchmarkDistPoolRoundTrip(b *testing.B) {
	for _, memory := range []bool{false, true} {
		name := map[bool]string{false: "nats", true: "nats-memory"}[memory]
		b.Run(name, func(b *testing.B) {
			p := distPool(b, "rtt"+map[bool]string{false: "", true: "m"}[memory], memory)
			for b.Loop() {
				if v, err := dist.Apply(p, sq64, 3); err != nil || v != 9 {
					b.Fatal(v, err)
				}
			}
		})
	}
	b.Run("shmkit", func(b *testing.B) {
		p, err := pool.New(&pool.Options{Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Terminate()
		for b.Loop() {
			if v, err := pool.Apply(p, sq64, 3); err != nil || v != 9 {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("python", func(b *testing.B) { python(b, "roundtrip", 2000) })
}
