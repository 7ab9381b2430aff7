package pool_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/shmkit/shmkit/pool"
)

// Task functions are registered at package level: a worker is this same binary, re-executed, and
// must have them registered before proc.Main runs (the program's main calls proc.Main first).
var (
	_ = pool.Register(cube)
	_ = pool.Register(nap)
	_ = pool.Register(crash)
	_ = pool.RegisterFunc(power)
)

func cube(x int) (int, error) { return x * x * x, nil }

func nap(d time.Duration) (string, error) {
	time.Sleep(d)
	return "rested", nil
}

func crash(code int) (int, error) {
	os.Exit(code) // as a crash in cgo or the OOM killer would end the worker
	return 0, nil
}

func power(base, exp int) (int, error) {
	r := 1
	for range exp {
		r *= base
	}
	return r, nil
}

func ExampleMap() {
	p, err := pool.New(&pool.Options{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer p.Join()
	defer p.Close()

	cubes, err := pool.Map(p, cube, []int{0, 1, 2, 3, 4, 5})
	fmt.Println(cubes, err)
	// Output: [0 1 8 27 64 125] <nil>
}

func ExampleImap() {
	p, err := pool.New(&pool.Options{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer p.Join()
	defer p.Close()

	// The source is consumed as the loop goes: it could be endless.
	results, err := pool.Imap(p, cube, slices.Values([]int{1, 2, 3, 4}))
	if err != nil {
		panic(err)
	}
	for c, err := range results {
		fmt.Println(c, err)
	}
	// Output:
	// 1 <nil>
	// 8 <nil>
	// 27 <nil>
	// 64 <nil>
}

func ExampleAsyncResult_Get() {
	p, err := pool.New(&pool.Options{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer p.Join()
	defer p.Close()

	quick, _ := pool.ApplyAsync(p, cube, 10)
	slow, _ := pool.ApplyAsync(p, nap, 300*time.Millisecond)
	fmt.Println(quick.Get(pool.Forever))
	_, err = slow.Get(10 * time.Millisecond) // Python's get(timeout) raising TimeoutError
	fmt.Println(errors.Is(err, pool.ErrTimeout))
	fmt.Println(slow.Get(pool.Forever)) // the task went on
	// Output:
	// 1000 <nil>
	// true
	// rested <nil>
}

func ExampleStarmap() {
	p, err := pool.New(&pool.Options{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer p.Join()
	defer p.Close()

	powers, err := pool.Starmap[int](p, power, [][]any{{2, 10}, {3, 3}, {10, 0}})
	fmt.Println(powers, err)
	// Output: [1024 27 1] <nil>
}

// A worker that dies fails the task it was running, and only that one; a new worker takes its
// place.
func Example_workerDied() {
	p, err := pool.New(&pool.Options{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer p.Join()
	defer p.Close()

	_, err = pool.Apply(p, crash, 3)
	var wd *pool.WorkerDiedError
	fmt.Println(errors.Is(err, pool.ErrWorkerDied), errors.As(err, &wd) && wd.ExitCode == 3)
	fmt.Println(pool.Apply(p, cube, 3)) // the pool carries on
	// Output:
	// true true
	// 27 <nil>
}
