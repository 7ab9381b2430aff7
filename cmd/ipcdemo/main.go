// Command ipcdemo runs, in Go with shmkit, the programs that the Python multiprocessing tutorials
// show (see docs/python.md): one subcommand per group, all of them with no argument.
//
//	go run ./cmd/ipcdemo            # every demo, in order
//	go run ./cmd/ipcdemo process    # one of them
//	go run ./cmd/ipcdemo -list      # what there is
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shmkit/shmkit/proc"
)

// A demo is one subcommand.
type demo struct {
	name  string
	about string
	order int
	run   func() error
}

var demos = map[string]demo{}

// register adds a subcommand; each demo file calls it from init. order sets the place in the full
// run: the order of the tutorials (process 10, queue 20, pipe 30, value 40, lock 50, ...).
func register(order int, name, about string, run func() error) {
	for _, d := range demos {
		if d.name == name || d.order == order {
			panic(fmt.Sprintf("ipcdemo: demo %s (order %d) clashes with %s (order %d)", name, order, d.name, d.order))
		}
	}
	demos[name] = demo{name: name, about: about, order: order, run: run}
}

func sorted() []demo {
	out := make([]demo, 0, len(demos))
	for _, d := range demos {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

func main() {
	proc.Main() // in a child process: run the requested target and exit
	os.Exit(run())
}

// run is main's body, returning the exit status, so that its deferred Shutdown runs before the
// process exits (os.Exit skips deferred calls).
func run() (status int) {
	// As Python joins its children at exit: wait for any still running (a bounded while), end
	// what is left, and fail if something had to be ended or failed.
	defer func() {
		if err := proc.Shutdown(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "ipcdemo: at exit: %v\n", err)
			if status == 0 {
				status = 1
			}
		}
	}()
	list := flag.Bool("list", false, "list the demos and exit")
	verbose := flag.Bool("v", false, "log process lifecycle events to stderr (as SHMKIT_LOG=debug)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: ipcdemo [-v] [-list] [demo ...]\n\ndemos:\n")
		for _, d := range sorted() {
			fmt.Fprintf(os.Stderr, "  %-12s %s\n", d.name, d.about)
		}
	}
	flag.Parse()
	if *verbose {
		proc.LogToStderr(slog.LevelDebug)
	}
	if *list {
		for _, d := range sorted() {
			fmt.Printf("%-12s %s\n", d.name, d.about)
		}
		return 0
	}
	todo := sorted()
	if flag.NArg() > 0 {
		todo = todo[:0]
		for _, name := range flag.Args() {
			d, ok := demos[name]
			if !ok {
				fmt.Fprintf(os.Stderr, "ipcdemo: no demo %q\n", name)
				flag.Usage()
				return 2
			}
			todo = append(todo, d)
		}
	}
	failed := 0
	for _, d := range todo {
		fmt.Printf("=== %s: %s\n", d.name, d.about)
		start := time.Now()
		if err := d.run(); err != nil {
			fmt.Fprintf(os.Stderr, "ipcdemo %s: %v\n", d.name, err)
			failed++
			continue
		}
		fmt.Printf("--- %s ok (%v)\n\n", d.name, time.Since(start).Round(time.Millisecond))
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "ipcdemo: %d demo(s) failed\n", failed)
		return 1
	}
	if len(todo) > 1 {
		fmt.Printf("all %d demos ok: %s\n", len(todo), names(todo))
	}
	return 0
}

func names(ds []demo) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.name)
	}
	return strings.Join(s, " ")
}
