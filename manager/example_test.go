package manager_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

// Targets run in child processes; a program registers them at package level and calls
// proc.Main() first thing in main.
var _ = proc.Register(double)

// double is the Python tutorial's f(d, i): d[i] = i*2, run in a child process.
func double(d *manager.Dict[int, int], i int) error { return d.Set(i, i*2) }

// Ten processes write one key each into a shared Dict, which the parent then reads: Python's
// Manager().dict(), with no manager process in between.
func Example() {
	d, err := manager.NewDict[int, int]()
	if err != nil {
		panic(err)
	}
	defer d.Free()
	var ps []*proc.Process
	for i := range 10 {
		p, err := proc.Start(double, d, i)
		if err != nil {
			panic(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		p.Join(proc.Forever)
	}
	for i := range 10 {
		v, _, _ := d.Get(i)
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 0 2 4 6 8 10 12 14 16 18
}

func ExampleDict_Update() {
	d, err := manager.NewDict[string, int]()
	if err != nil {
		panic(err)
	}
	defer d.Free()
	for range 3 {
		// An atomic read-modify-write: exact even with many processes doing it at once.
		d.Update("hits", func(n int, _ bool) int { return n + 1 })
	}
	n, ok, _ := d.Get("hits")
	fmt.Println(n, ok)
	// Output: 3 true
}

func ExampleDict_Items() {
	d, err := manager.NewDict[string, float64]()
	if err != nil {
		panic(err)
	}
	defer d.Free()
	d.Set("pi", 3.14159)
	d.Set("e", 2.71828)
	items, _ := d.Items() // a consistent snapshot, in no particular order
	slices.SortFunc(items, func(a, b manager.Item[string, float64]) int { return cmp.Compare(a.Key, b.Key) })
	for _, it := range items {
		fmt.Println(it.Key, it.Value)
	}
	// Output:
	// e 2.71828
	// pi 3.14159
}

func ExampleDict_Watch() {
	d, err := manager.NewDict[string, string]()
	if err != nil {
		panic(err)
	}
	defer d.Free()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := d.Watch(ctx, "status")
	if err != nil {
		panic(err)
	}
	d.Set("status", "running") // any process's Set wakes the watcher through a futex
	c := <-changes
	fmt.Println(c.Value, c.Deleted)
	d.Delete("status")
	c = <-changes
	fmt.Println(c.Deleted)
	// Output:
	// running false
	// true
}

func ExampleList() {
	l, err := manager.NewList[string]()
	if err != nil {
		panic(err)
	}
	defer l.Free()
	l.Append("b")
	l.Append("c")
	l.Insert(0, "a")
	last, _ := l.Pop(-1)
	all, _ := l.Slice(0, math.MaxInt)
	fmt.Println(all, last, l.Len())
	// Output: [a b] c 2
}

func ExampleList_Watch() {
	l, err := manager.NewList[string]()
	if err != nil {
		panic(err)
	}
	defer l.Free()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	versions, err := l.Watch(ctx)
	if err != nil {
		panic(err)
	}
	l.Append("job-1") // an Append in any process moves the version
	<-versions
	all, _ := l.Slice(0, math.MaxInt) // the version says the List changed: read it to see how
	fmt.Println(all)
	// Output: [job-1]
}

func ExampleNamespace_WatchPrefix() {
	ns, err := manager.NewNamespace()
	if err != nil {
		panic(err)
	}
	defer ns.Free()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := ns.WatchPrefix(ctx, "worker.")
	if err != nil {
		panic(err)
	}
	ns.Set("total", 3)            // not under the prefix: not delivered
	ns.Set("worker.1", "running") // delivered, with its name and new value
	c := <-changes
	fmt.Println(c.Key, c.Value)
	// Output: worker.1 running
}

func ExampleNamespace() {
	ns, err := manager.NewNamespace()
	if err != nil {
		panic(err)
	}
	defer ns.Free()
	ns.Set("x", 10)
	ns.Set("y", "hello")
	fmt.Println(ns)
	// Output: Namespace(x=10, y='hello')
}
