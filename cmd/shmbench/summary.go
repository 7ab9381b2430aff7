package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// confidence is the level of the confidence intervals around each median (as benchstat's).
const confidence = 0.95

// A measurement is one metric of one benchmark (or sub-benchmark) over every run.
type measurement struct {
	Pkg      string    // the package's import path
	Name     string    // "BenchmarkX/sub", without the GOMAXPROCS suffix
	Bench    string    // "BenchmarkX"
	Sub      string    // "sub", or "" without sub-benchmarks
	Unit     string    // the unit as benchfmt tidies it: "sec/op", "B/s", "sec/msg"
	OrigUnit string    // the unit as go test printed it: "ns/op", "MB/s", "ns/msg"
	Values   []float64 // one per run, in tidied units, in the order of the runs

	summary benchmath.Summary
	sorted  []float64
}

func (m *measurement) median() float64 { return m.summary.Center }
func (m *measurement) min() float64    { return m.sorted[0] }
func (m *measurement) max() float64    { return m.sorted[len(m.sorted)-1] }

// A benchmark is one top-level benchmark's measurements, in the order go test printed them.
type benchmark struct {
	Name string
	Pkg  string
	Subs []string                           // sub-benchmark names in order ("" when it has none)
	M    map[string]map[string]*measurement // sub → unit → measurement
}

// A suite is everything read from go test's output.
type suite struct {
	Benchmarks []*benchmark
	Config     map[string]string // file configuration (goos, cpu, and what shmbench adds)
	ConfigKeys []string          // in order of appearance
	Failures   []string          // "FAIL" and "--- FAIL" lines
}

// parseSuite reads go test -bench output (any number of runs and packages) with benchfmt.
func parseSuite(r io.Reader, name string) (*suite, error) {
	s := &suite{Config: map[string]string{}}
	byName := map[string]*benchmark{}
	br := benchfmt.NewReader(r, name)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			// go test prints lines benchfmt does not know (PASS, ok, a benchmark's logs): ignore.
			continue
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if c.File && c.Key != "pkg" {
					if _, seen := s.Config[c.Key]; !seen {
						s.ConfigKeys = append(s.ConfigKeys, c.Key)
					}
					s.Config[c.Key] = strings.TrimSpace(string(c.Value))
				}
			}
			pkg := rec.GetConfig("pkg")
			base, parts := rec.Name.Parts()
			var sub []string
			for _, p := range parts {
				if strings.HasPrefix(string(p), "/") {
					sub = append(sub, string(p[1:]))
				}
				// "-N" parts are GOMAXPROCS: dropped, one machine per run.
			}
			bname := string(base)
			if !strings.HasPrefix(bname, "Benchmark") {
				bname = "Benchmark" + bname
			}
			key := pkg + " " + bname
			b := byName[key]
			if b == nil {
				b = &benchmark{Name: bname, Pkg: pkg, M: map[string]map[string]*measurement{}}
				byName[key] = b
				s.Benchmarks = append(s.Benchmarks, b)
			}
			subName := strings.Join(sub, "/")
			units := b.M[subName]
			if units == nil {
				units = map[string]*measurement{}
				b.M[subName] = units
				b.Subs = append(b.Subs, subName)
			}
			for _, v := range rec.Values {
				m := units[v.Unit]
				if m == nil {
					orig := v.OrigUnit
					if orig == "" {
						orig = v.Unit
					}
					full := bname
					if subName != "" {
						full += "/" + subName
					}
					m = &measurement{Pkg: pkg, Name: full, Bench: bname, Sub: subName, Unit: v.Unit, OrigUnit: orig}
					units[v.Unit] = m
				}
				m.Values = append(m.Values, v.Value)
			}
		}
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	for _, b := range s.Benchmarks {
		for _, units := range b.M {
			for _, m := range units {
				sample := benchmath.NewSample(m.Values, &benchmath.DefaultThresholds)
				m.sorted = sample.Values
				m.summary = benchmath.AssumeNothing.Summary(sample, confidence)
			}
		}
	}
	return s, nil
}

// systemOf says which system a sub-benchmark of bench measures.
func systemOf(bench, sub string) string {
	if sub == "" {
		if s, ok := benchSystems[bench]; ok {
			return s
		}
		return sysShmkit
	}
	if s, ok := subSystems[sub]; ok {
		return s
	}
	return sysShmkit // "shmkit", "shmkit-…" and any name not in the table: a row of its own
}

// metricOf is the unit compared for bench/sub when it reports it, else sec/op.
func metricOf(b *benchmark, sub string) *measurement {
	full := b.Name
	if sub != "" {
		full += "/" + sub
	}
	for _, k := range []string{full, b.Name} {
		if u, ok := metrics[k]; ok {
			if m := b.M[sub][u]; m != nil {
				return m
			}
		}
	}
	if m := b.M[sub]["sec/op"]; m != nil {
		return m
	}
	// No time at all (a benchmark reporting only custom metrics): its first unit, by name.
	units := make([]string, 0, len(b.M[sub]))
	for u := range b.M[sub] {
		units = append(units, u)
	}
	sort.Strings(units)
	if len(units) == 0 {
		return nil
	}
	return b.M[sub][units[0]]
}

// A row is one workload: a shmkit measurement beside the baselines of the same benchmark.
type row struct {
	ID          string // "QueueThroughput", "QueueThroughput/shmkit-1MiB"
	Name        string // "BenchmarkQueueThroughput/shmkit-1MiB"
	Description string
	System      string
	Subject     *measurement
	Baselines   map[string]*measurement // column → measurement
	Speedup     map[string]float64      // column → the baseline's median / the subject's
	Targets     []targetResult
}

// A targetResult is a target evaluated on one run's medians.
type targetResult struct {
	target
	Value  float64 // the speedup (or, for an absolute target, the median)
	Holds  bool    // by the medians
	Sure   bool    // also at the unfavourable ends of both 95% confidence intervals
	Status string  // "met", "met (within noise)", "MISSED", "MISSED (within noise)", "not measured"
}

// workloadID names a row: the benchmark without "Benchmark", and the sub-benchmark unless it is
// plain "shmkit".
func workloadID(bench, sub string) string {
	id := strings.TrimPrefix(bench, "Benchmark")
	if sub != "" && sub != "shmkit" {
		id += "/" + sub
	}
	return id
}

// rows makes the table: one row per shmkit sub-benchmark (or per benchmark without subs, or per
// sub when a benchmark has no shmkit sub at all), each with its benchmark's baselines.
func (s *suite) rows() []*row {
	var out []*row
	for _, b := range s.Benchmarks {
		baselines := map[string]*measurement{}
		var subjects []string
		for _, sub := range b.Subs {
			sys := systemOf(b.Name, sub)
			if sys == sysShmkit || sys == sysMachine {
				subjects = append(subjects, sub)
			} else if baselines[sys] == nil {
				baselines[sys] = metricOf(b, sub)
			} else {
				subjects = append(subjects, sub) // a second baseline of one system: its own row
			}
		}
		if len(subjects) == 0 { // only baselines: each is shown on its own
			subjects = b.Subs
			baselines = map[string]*measurement{}
		}
		for _, sub := range subjects {
			m := metricOf(b, sub)
			if m == nil {
				continue
			}
			r := &row{
				ID: workloadID(b.Name, sub), Name: m.Name, Description: workloads[m.Name],
				System: systemOf(b.Name, sub), Subject: m,
				Baselines: map[string]*measurement{}, Speedup: map[string]float64{},
			}
			if r.Description == "" {
				r.Description = r.Name // unknown to the tables: named as go test names it
			}
			for sys, bm := range baselines {
				if bm == nil {
					continue
				}
				r.Baselines[sys] = bm
				if m.median() > 0 && bm.median() > 0 && m.Unit != "B/s" && bm.Unit != "B/s" {
					r.Speedup[sys] = bm.median() / m.median()
				}
			}
			for _, t := range targets {
				if t.Workload == r.Name {
					r.Targets = append(r.Targets, evaluate(t, r))
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// evaluate checks a target against a row's medians, and says whether the verdict would be the
// same at the unfavourable ends of the confidence intervals.
func evaluate(t target, r *row) targetResult {
	tr := targetResult{target: t, Status: "not measured", Value: math.NaN()}
	if t.Against == "" {
		m := r.Subject
		tr.Value = m.median()
		tr.Holds = m.median() <= t.Max
		if tr.Holds {
			tr.Sure = m.summary.Hi <= t.Max
		} else {
			tr.Sure = m.summary.Lo > t.Max
		}
	} else {
		bm := r.Baselines[t.Against]
		x, ok := r.Speedup[t.Against]
		if bm == nil || !ok {
			return tr
		}
		tr.Value = x
		tr.Holds = x >= t.Min
		s := r.Subject.summary
		if tr.Holds { // still met if the baseline were at its fastest and shmkit at its slowest?
			tr.Sure = s.Hi > 0 && bm.summary.Lo/s.Hi >= t.Min
		} else {
			tr.Sure = s.Lo > 0 && bm.summary.Hi/s.Lo < t.Min
		}
	}
	switch {
	case tr.Holds && tr.Sure:
		tr.Status = "met"
	case tr.Holds:
		tr.Status = "met (within noise)"
	case tr.Sure:
		tr.Status = "MISSED"
	default:
		tr.Status = "MISSED (within noise)"
	}
	return tr
}

// formatValue prints v in unit the way a reader expects: times in ns/µs/ms/s, rates in MB/s.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch {
	case strings.HasPrefix(unit, "sec/"):
		switch a := math.Abs(v); {
		case a >= 1:
			return fmt.Sprintf("%.3gs", v)
		case a >= 1e-3:
			return fmt.Sprintf("%.3gms", v*1e3)
		case a >= 1e-6:
			return fmt.Sprintf("%.3gµs", v*1e6)
		default:
			return fmt.Sprintf("%.3gns", v*1e9)
		}
	case unit == "B/s":
		return fmt.Sprintf("%.4gMB/s", v/1e6)
	case unit == "median-us":
		return fmt.Sprintf("%.3gµs", v)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

// formatSpread is "median (min–max)", or the median alone for one run.
func formatSpread(m *measurement) string {
	if m == nil {
		return "–"
	}
	med := formatValue(m.median(), m.Unit)
	if len(m.Values) < 2 {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, formatValue(m.min(), m.Unit), formatValue(m.max(), m.Unit))
}

// formatSpeedup is a speedup as the table shows it: "2.31×", or "–" when not measured.
func formatSpeedup(x float64, ok bool) string {
	if !ok {
		return "–"
	}
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	case x >= 0.1:
		return fmt.Sprintf("%.2f×", x)
	}
	return fmt.Sprintf("%.2g×", x)
}

// targetsText is the targets' verdicts of a row, one phrase each.
func targetsText(r *row) string {
	var parts []string
	for _, t := range r.Targets {
		parts = append(parts, fmt.Sprintf("%s: %s (#%d)", t.Status, t.Text, t.Issue))
	}
	return strings.Join(parts, "; ")
}

// runsOf is how many runs a row's subject and baselines had (the fewest).
func runsOf(r *row) int {
	n := len(r.Subject.Values)
	for _, c := range columns {
		if bm := r.Baselines[c]; bm != nil {
			n = min(n, len(bm.Values))
		}
	}
	return n
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
