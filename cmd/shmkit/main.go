// Command shmkit lists, inspects and cleans shmkit's shared memory: the named segments in /dev/shm
// and the anonymous ones (memfds, such as every process's default heap) that live processes hold.
//
//	shmkit ls [--json]               list named segments (size, creator, liveness, use, staleness)
//	                                 and anonymous ones (size, creator, holders, /proc/PID/fd/N)
//	shmkit ls [--json] NAME|PATH     one segment's inside: peers, heap, objects by kind, lock
//	                                 holders (alive or not, since when), waiters, queue depths,
//	                                 Dict and List sizes, pool workers and what they run
//	shmkit clean [--dry-run] [--json] remove the stale named ones (or only say which)
//
// A segment is stale when its creator is provably dead (its pid and its recorded start time no
// longer name a live process, so a reused pid does not keep it) and no process has it open or
// mapped. Only stale segments are ever removed, and only the file that was checked (see
// shm.CleanStale). All processes involved must share this command's pid namespace.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/shmkit/shmkit/shm"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "usage: shmkit ls [--json] [NAME] | shmkit clean [--dry-run] [--json]"

// run is the command with its arguments and outputs: 0 on success, 1 on an error, 2 on misuse.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("shmkit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	dry := false
	if args[0] == "clean" {
		fs.BoolVar(&dry, "dry-run", false, "only list what would be removed")
	}
	if args[0] != "ls" && args[0] != "clean" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if args[0] == "ls" && fs.NArg() == 1 {
		d, err := inspectNamed(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "shmkit:", err)
			return 1
		}
		return emit(stdout, stderr, *asJSON, d, printDetail)
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if args[0] == "ls" {
		var l listing
		var err error
		if l.Named, err = shm.ListNamed(); err == nil {
			l.Anonymous, err = shm.ListAnonymous()
		}
		if err != nil {
			fmt.Fprintln(stderr, "shmkit:", err)
			return 1
		}
		return emit(stdout, stderr, *asJSON, l, printTable)
	}
	var names []string
	var err error
	if dry {
		list, lerr := shm.ListNamed()
		for _, s := range list {
			if s.Stale {
				names = append(names, s.Name)
			}
		}
		err = lerr
	} else {
		names, err = shm.CleanStale()
	}
	if err != nil {
		fmt.Fprintln(stderr, "shmkit:", err)
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	if code := emit(stdout, stderr, *asJSON, cleanResult{DryRun: dry, Removed: names}, func(w io.Writer, r cleanResult) {
		for _, n := range r.Removed {
			fmt.Fprintln(w, verb, n)
		}
		fmt.Fprintf(w, "%s %d stale segment(s)\n", verb, len(r.Removed))
	}); code != 0 || err != nil {
		return 1
	}
	return 0
}

// listing is ls's JSON output.
type listing struct {
	Named     []shm.NamedInfo `json:"named"`
	Anonymous []shm.AnonInfo  `json:"anonymous"`
}

// cleanResult is clean's JSON output.
type cleanResult struct {
	DryRun  bool     `json:"dry_run"`
	Removed []string `json:"removed"` // with DryRun, what would be removed
}

// emit prints v as JSON or with table.
func emit[T any](stdout, stderr io.Writer, asJSON bool, v T, table func(io.Writer, T)) int {
	if !asJSON {
		table(stdout, v)
		return 0
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "shmkit:", err)
		return 1
	}
	return 0
}

// printTable prints ls's human tables.
func printTable(w io.Writer, l listing) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tCREATOR\tCREATOR ALIVE\tIN USE\tSTALE")
	yn := map[bool]string{true: "yes", false: "no"}
	for _, s := range l.Named {
		inUse := yn[s.InUse]
		if s.CreatorAlive {
			inUse = "-" // not scanned: the creator's own liveness keeps it
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", s.Name, s.Size, s.Creator, yn[s.CreatorAlive], inUse, yn[s.Stale])
	}
	tw.Flush()
	if len(l.Anonymous) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ANONYMOUS (ls PATH)\tSIZE\tCREATOR\tCREATOR ALIVE\tDEFAULT HEAP\tHELD BY")
	for _, s := range l.Anonymous {
		holders := make([]string, len(s.Holders))
		for i, p := range s.Holders {
			holders[i] = strconv.Itoa(p)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", s.Path, s.Size, s.Creator, yn[s.CreatorAlive], yn[s.Default],
			strings.Join(holders, " "))
	}
	tw.Flush()
}
