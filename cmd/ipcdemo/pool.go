package main

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shmkit/shmkit/pool"
	"github.com/shmkit/shmkit/proc"
)

func init() {
	register(70, "pool", "Pool: apply_async, map, imap_unordered, get(timeout), close/join, and the sum of x² to 10^7", runPool)
}

// Task functions of the pool demo, run in worker processes.
var (
	_ = pool.Register(poolLongTask)
	_ = pool.Register(poolSquare)
	_ = pool.Register(poolSleep)
)

func poolLongTask(name int) (int, error) {
	fmt.Printf("Run task %d (%d)...\n", name, os.Getpid())
	start := time.Now()
	time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
	fmt.Printf("Task %d runs %.2f seconds.\n", name, time.Since(start).Seconds())
	return name, nil
}

func poolSquare(x int64) (int64, error) { return x * x, nil }

func poolSleep(d time.Duration) (int64, error) {
	time.Sleep(d)
	return 0, nil
}

func runPool() error {
	steps := []func() error{poolApplyAsync, poolMapAndFriends, poolSumOfSquares}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// poolApplyAsync: Pool(4) and five tasks; the fifth waits for a free worker.
func poolApplyAsync() error {
	fmt.Printf("Parent process %d.\n", os.Getpid())
	p, err := pool.New(&pool.Options{Workers: 4})
	if err != nil {
		return err
	}
	var results []*pool.AsyncResult[int]
	for i := range 5 {
		ar, err := pool.ApplyAsync(p, poolLongTask, i)
		if err != nil {
			return err
		}
		results = append(results, ar)
	}
	if err := p.Join(); !errors.Is(err, pool.ErrNotClosed) {
		return fmt.Errorf("join before close: %v, want ErrNotClosed", err)
	}
	fmt.Println("join() before close() is an error, as in Python:", pool.ErrNotClosed)
	fmt.Println("Waiting for all subprocesses done...")
	if err := p.Close(); err != nil {
		return err
	}
	if err := p.Join(); err != nil {
		return err
	}
	fmt.Println("All subprocesses done.")
	var got []int
	for _, ar := range results { // collected after close/join: they are all ready
		v, err := ar.Get(0)
		if err != nil {
			return err
		}
		got = append(got, v)
	}
	fmt.Println("results collected after join:", got)
	return nil
}

// poolMapAndFriends: map, imap_unordered, apply_async(...).get(timeout).
func poolMapAndFriends() error {
	p, err := pool.New(&pool.Options{Workers: 4})
	if err != nil {
		return err
	}
	defer p.Terminate() // the sleeping task below is still running: stop it
	xs := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	sq, err := pool.Map(p, poolSquare, xs)
	if err != nil {
		return err
	}
	fmt.Println("map:", sq)
	un, err := pool.ImapUnordered(p, poolSquare, slices.Values(xs))
	if err != nil {
		return err
	}
	var parts []string
	for r := range un {
		if r.Err != nil {
			return r.Err
		}
		parts = append(parts, fmt.Sprint(r.Value))
	}
	fmt.Println("imap_unordered:", strings.Join(parts, " "))
	hundred, err := pool.ApplyAsync(p, poolSquare, 10)
	if err != nil {
		return err
	}
	v, err := hundred.Get(time.Second)
	fmt.Println("apply_async(f, 10).get(timeout=1):", v, err)
	if err != nil || v != 100 {
		return fmt.Errorf("got %d, %v; want 100", v, err)
	}
	sleeper, err := pool.ApplyAsync(p, poolSleep, 10*time.Second)
	if err != nil {
		return err
	}
	_, err = sleeper.Get(time.Second)
	fmt.Println("apply_async(sleep, 10).get(timeout=1):", err)
	if !errors.Is(err, pool.ErrTimeout) {
		return fmt.Errorf("want a timeout, got %v", err)
	}
	return nil
}

// poolSumOfSquares: the sum of x² for x in 1..10,000,000 with a Pool's Map, exactly (it
// overflows int64), with a progress bar.
func poolSumOfSquares() error {
	const n = 10_000_000
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i + 1)
	}
	p, err := pool.New(&pool.Options{Workers: proc.CPUCount()})
	if err != nil {
		return err
	}
	defer p.Join()
	defer p.Close()
	start := time.Now()
	ar, err := pool.MapAsync(p, poolSquare, xs)
	if err != nil {
		return err
	}
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		bar(p.Progress(), n)
		if ar.Ready() {
			tick.Stop()
			break
		}
		select {
		case <-ar.Done():
		case <-tick.C:
		}
	}
	fmt.Println()
	sq, err := ar.Get(0)
	if err != nil {
		return err
	}
	sum := sum128(sq)
	elapsed := time.Since(start)
	serialStart := time.Now()
	serial := make([]int64, n)
	for i, x := range xs {
		serial[i] = x * x
	}
	serialSum := sum128(serial)
	fmt.Printf("sum of x² for x in 1..%d with Pool(%d).map: %s in %v (serially: %v)\n",
		n, p.Size(), sum, elapsed.Round(time.Millisecond), time.Since(serialStart).Round(time.Millisecond))
	if want := "333333383333335000000"; sum.String() != want || serialSum.Cmp(sum) != 0 {
		return fmt.Errorf("sum %s, want %s", sum, want)
	}
	return nil
}

// sum128 sums non-negative int64s exactly in 128 bits.
func sum128(xs []int64) *big.Int {
	var hi, lo uint64
	for _, x := range xs {
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(x), 0)
		hi += carry
	}
	return new(big.Int).Add(new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64), new(big.Int).SetUint64(lo))
}

// bar draws a progress bar from the pool's counters.
func bar(g pool.Progress, total int64) {
	const width = 40
	done := g.Done + g.Failed
	k := int(done * width / total)
	fmt.Printf("\r[%s%s] %3d%% %d/%d", strings.Repeat("#", k), strings.Repeat(".", width-k), done*100/total, done, total)
}
