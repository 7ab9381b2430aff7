package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shmkit/shmkit/manager"
	"github.com/shmkit/shmkit/proc"
)

func init() {
	register(60, "manager", "Dict, Namespace and List in shared memory, written by ten children; a Watch", runManager)
}

// Targets of the manager demo, run in child processes: Python's
//
//	def f(d, i):
//	    d[i] = i * 2
var (
	_ = proc.Register(managerDouble)
	_ = proc.Register(managerAppend)
)

func managerDouble(d *manager.Dict[int, int], i int) error { return d.Set(i, i*2) }

func managerAppend(l *manager.List[int], i int) error { return l.Append(i * i) }

func runManager() error {
	// d = manager.dict(); ten processes each set d[i] = i*2
	d, err := manager.NewDict[int, int]()
	if err != nil {
		return err
	}
	defer d.Free()
	l, err := manager.NewList[int]()
	if err != nil {
		return err
	}
	defer l.Free()

	// A Watch of the whole dict: the parent is told of each key a child sets (woken through a
	// futex, not by polling).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := d.WatchKeys(ctx, func(int) bool { return true })
	if err != nil {
		return err
	}
	var ps []*proc.Process
	for i := range 10 {
		for _, start := range []func() (*proc.Process, error){
			func() (*proc.Process, error) { return proc.Start(managerDouble, d, i) },
			func() (*proc.Process, error) { return proc.Start(managerAppend, l, i) },
		} {
			p, err := start()
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		if err := p.Join(30 * time.Second); err != nil {
			return err
		}
		if code, _ := p.ExitCode(); code != 0 {
			return fmt.Errorf("child %v exited with %d", p, code)
		}
	}
	seen := map[int]bool{}
	for len(seen) < 10 {
		select {
		case c := <-changes:
			if c.Err != nil {
				return c.Err
			}
			seen[c.Key] = true
		case <-time.After(10 * time.Second):
			return fmt.Errorf("the watcher saw %d keys set, not 10", len(seen))
		}
	}
	fmt.Printf("the watcher saw all %d keys set\n", len(seen))
	for i := range 10 {
		v, _, err := d.Get(i)
		if err != nil {
			return err
		}
		fmt.Print(v, " ")
	}
	fmt.Println()

	// ns = manager.Namespace(); ns.x = 10; ns.y = 'hello'; print(ns)
	ns, err := manager.NewNamespace()
	if err != nil {
		return err
	}
	defer ns.Free()
	ns.Set("x", 10)
	ns.Set("y", "hello")
	fmt.Println(ns)
	// Python: ns.lst.append(4) changes nothing shared until ns.lst = lst. In shmkit Get returns a
	// copy, so the same holds, visibly: change the copy, then Set it.
	ns.Set("lst", []int{1, 2, 3})
	lst, _, _ := manager.Load[[]int](ns, "lst")
	lst = append(lst, 4)
	before, _, _ := manager.Load[[]int](ns, "lst")
	ns.Set("lst", lst)
	after, _, _ := manager.Load[[]int](ns, "lst")
	fmt.Println("before reassigning:", before, "after:", after)

	// A shared list, appended to by the ten children in whatever order they ran.
	all, err := l.Slice(0, math.MaxInt)
	if err != nil {
		return err
	}
	fmt.Println("list of", len(all), "squares:", all)
	return nil
}
