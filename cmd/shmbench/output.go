package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// schemaVersion names the JSON layout below. Change it (shmbench/2, ...) whenever a field is
// removed, renamed or changes meaning; adding a field keeps the version.
const schemaVersion = "shmbench/1"

// Report is the JSON file results.json. Its schema (version shmbench/1):
//
//   - schema: "shmbench/1".
//   - mode: "quick", "full" or "custom"; count and benchtime: the go test flags used.
//   - config: the run's configuration as go test and shmbench printed it in raw.txt (goos,
//     goarch, cpu, ncpu, kernel, go, python, commit, date, command).
//   - results: one entry per measured metric of every benchmark and sub-benchmark:
//     workload (the row it belongs to, see below), system ("shmkit", "go", "os", "python" or
//     "machine"), benchmark (go test's name without the GOMAXPROCS suffix), package, metric (the
//     unit go test printed: "ns/op", "MB/s", "ns/msg", "B/op", ...), unit (the unit of the
//     numbers, tidied to base units by x/perf/benchfmt: "sec/op", "B/s", "sec/msg", "B/op"),
//     runs (how many), values (each run's value, in run order), median, min, max, and ci_low,
//     ci_high, confidence (the confidence interval of the median, as benchstat computes it;
//     with few runs the interval is wide, and with one run it is the value itself).
//     A workload is the benchmark's name without "Benchmark" ("QueueThroughput"), with the
//     sub-benchmark appended for a shmkit variant ("QueueThroughput/shmkit-1MiB"); baselines
//     carry the workload of their benchmark.
//   - rows: the table, one per workload: workload, description, benchmark, metric (the unit
//     compared), median, baselines (system → the baseline's benchmark name), speedups (system →
//     the baseline's median divided by the workload's, both in the compared unit: above 1,
//     shmkit is faster), and targets: issue, text, against (a system, or "" for a bound on the
//     workload's own value), min_speedup or max_value, value, holds (by the medians), sure (also
//     at the unfavourable ends of both confidence intervals), status.
//   - failures: go test's FAIL lines, if any.
type Report struct {
	Schema    string            `json:"schema"`
	Mode      string            `json:"mode"`
	Count     int               `json:"count"`
	Benchtime string            `json:"benchtime"`
	Config    map[string]string `json:"config"`
	Results   []Result          `json:"results"`
	Rows      []Row             `json:"rows"`
	Failures  []string          `json:"failures"`
}

// Result is one metric of one benchmark over every run.
type Result struct {
	Workload   string    `json:"workload"`
	System     string    `json:"system"`
	Benchmark  string    `json:"benchmark"`
	Package    string    `json:"package"`
	Metric     string    `json:"metric"`
	Unit       string    `json:"unit"`
	Runs       int       `json:"runs"`
	Values     []float64 `json:"values"`
	Median     float64   `json:"median"`
	Min        float64   `json:"min"`
	Max        float64   `json:"max"`
	CILow      float64   `json:"ci_low"`
	CIHigh     float64   `json:"ci_high"`
	Confidence float64   `json:"confidence"`
}

// Row is one line of the table.
type Row struct {
	Workload    string             `json:"workload"`
	Description string             `json:"description"`
	Benchmark   string             `json:"benchmark"`
	Metric      string             `json:"metric"`
	Median      float64            `json:"median"`
	Baselines   map[string]string  `json:"baselines"`
	Speedups    map[string]float64 `json:"speedups"`
	Targets     []Target           `json:"targets"`
}

// Target is one target's verdict in this run.
type Target struct {
	Issue      int     `json:"issue"`
	Text       string  `json:"text"`
	Against    string  `json:"against"`
	MinSpeedup float64 `json:"min_speedup,omitempty"`
	MaxValue   float64 `json:"max_value,omitempty"`
	Value      float64 `json:"value"`
	Holds      bool    `json:"holds"`
	Sure       bool    `json:"sure"`
	Status     string  `json:"status"`
}

// finite turns NaN and infinities, which JSON cannot hold, into 0.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// report builds the JSON document of a suite and its rows.
func report(s *suite, rows []*row, mode string, count int, benchtime string) *Report {
	rep := &Report{
		Schema: schemaVersion, Mode: mode, Count: count, Benchtime: benchtime,
		Config: s.Config, Results: []Result{}, Rows: []Row{}, Failures: s.Failures,
	}
	if rep.Failures == nil {
		rep.Failures = []string{}
	}
	// A baseline's workload is its benchmark's; a subject's is its row's.
	for _, b := range s.Benchmarks {
		for _, sub := range b.Subs {
			sys := systemOf(b.Name, sub)
			wl := workloadID(b.Name, sub)
			if sys != sysShmkit && sys != sysMachine {
				wl = workloadID(b.Name, "")
			}
			for _, unit := range sortedKeys(b.M[sub]) {
				m := b.M[sub][unit]
				rep.Results = append(rep.Results, Result{
					Workload: wl, System: sys, Benchmark: m.Name, Package: m.Pkg,
					Metric: m.OrigUnit, Unit: m.Unit, Runs: len(m.Values), Values: m.Values,
					Median: m.median(), Min: m.min(), Max: m.max(),
					CILow: finite(m.summary.Lo), CIHigh: finite(m.summary.Hi), Confidence: finite(m.summary.Confidence),
				})
			}
		}
	}
	for _, r := range rows {
		jr := Row{
			Workload: r.ID, Description: r.Description, Benchmark: r.Name, Metric: r.Subject.Unit,
			Median: r.Subject.median(), Baselines: map[string]string{}, Speedups: map[string]float64{},
			Targets: []Target{},
		}
		for sys, bm := range r.Baselines {
			jr.Baselines[sys] = bm.Name
		}
		for sys, x := range r.Speedup {
			jr.Speedups[sys] = x
		}
		for _, t := range r.Targets {
			jr.Targets = append(jr.Targets, Target{
				Issue: t.Issue, Text: t.Text, Against: t.Against, MinSpeedup: t.Min, MaxValue: t.Max,
				Value: finite(t.Value), Holds: t.Holds, Sure: t.Sure, Status: t.Status,
			})
		}
		rep.Rows = append(rep.Rows, jr)
	}
	return rep
}

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// columnTitle names a baseline column for people.
var columnTitle = map[string]string{sysGo: "Go", sysOS: "OS", sysPython: "CPython"}

// writeText prints the table for a terminal.
func writeText(w io.Writer, rows []*row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tshmkit\tGo\tOS\tCPython\t×Go\t×OS\t×CPython\truns\ttargets")
	for _, r := range rows {
		cells := []string{r.Description, formatSpread(r.Subject)}
		for _, c := range columns {
			cells = append(cells, formatSpread(r.Baselines[c]))
		}
		for _, c := range columns {
			x, ok := r.Speedup[c]
			cells = append(cells, formatSpeedup(x, ok))
		}
		cells = append(cells, fmt.Sprint(runsOf(r)), targetsText(r))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeMarkdown writes the table as docs/benchmarks.md shows it.
func writeMarkdown(w io.Writer, rows []*row) error {
	fmt.Fprintln(w, "| workload | shmkit | Go | OS | CPython | ×Go | ×OS | ×CPython | runs | targets |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		cells := []string{fmt.Sprintf("%s `%s`", mdEscape(r.Description), r.ID), formatSpread(r.Subject)}
		for _, c := range columns {
			cell := formatSpread(r.Baselines[c])
			if bm := r.Baselines[c]; bm != nil {
				cell += " `" + bm.Sub + "`"
			}
			cells = append(cells, cell)
		}
		for _, c := range columns {
			x, ok := r.Speedup[c]
			cells = append(cells, formatSpeedup(x, ok))
		}
		var ts []string
		for _, t := range r.Targets {
			st := t.Status
			if !t.Holds {
				st = "**" + st + "**"
			}
			ts = append(ts, fmt.Sprintf("%s: %s (#%d)", st, mdEscape(t.Text), t.Issue))
		}
		cells = append(cells, fmt.Sprint(runsOf(r)), strings.Join(ts, "; "))
		if _, err := fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")); err != nil {
			return err
		}
	}
	return nil
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
