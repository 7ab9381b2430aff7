package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// schemaV1 is results.json's schema shmbench/1 as a reader outside this package sees it: decoded
// with DisallowUnknownFields and every documented field required, so that renaming or dropping
// a field (which needs a new schema version) fails here.
type schemaV1 struct {
	Schema    string            `json:"schema"`
	Mode      string            `json:"mode"`
	Count     int               `json:"count"`
	Benchtime string            `json:"benchtime"`
	Config    map[string]string `json:"config"`
	Results   []struct {
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
	} `json:"results"`
	Rows []struct {
		Workload    string             `json:"workload"`
		Description string             `json:"description"`
		Benchmark   string             `json:"benchmark"`
		Metric      string             `json:"metric"`
		Median      float64            `json:"median"`
		Baselines   map[string]string  `json:"baselines"`
		Speedups    map[string]float64 `json:"speedups"`
		Targets     []struct {
			Issue      int     `json:"issue"`
			Text       string  `json:"text"`
			Against    string  `json:"against"`
			MinSpeedup float64 `json:"min_speedup"`
			MaxValue   float64 `json:"max_value"`
			Value      float64 `json:"value"`
			Holds      bool    `json:"holds"`
			Sure       bool    `json:"sure"`
			Status     string  `json:"status"`
		} `json:"targets"`
	} `json:"rows"`
	Failures []string `json:"failures"`
}

// readSchema decodes dir/results.json strictly, and checks the fields every entry must have.
func readSchema(t *testing.T, dir string) *schemaV1 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"workload", "system", "metric", "unit", "runs", "median", "min", "max"} {
		if !bytes.Contains(raw, []byte(`"`+field+`":`)) {
			t.Errorf("results.json has no %q field", field)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s schemaV1
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("results.json does not decode with schema shmbench/1: %v", err)
	}
	if s.Schema != "shmbench/1" {
		t.Errorf("schema %q, want shmbench/1", s.Schema)
	}
	if len(s.Results) == 0 || len(s.Rows) == 0 {
		t.Fatalf("%d results and %d rows", len(s.Results), len(s.Rows))
	}
	systems := []string{sysShmkit, sysGo, sysOS, sysPython, sysMachine}
	for _, r := range s.Results {
		if r.Workload == "" || r.Benchmark == "" || r.Metric == "" || r.Unit == "" || r.Package == "" {
			t.Errorf("result with an empty field: %+v", r)
		}
		if !slices.Contains(systems, r.System) {
			t.Errorf("%s: system %q", r.Benchmark, r.System)
		}
		if r.Runs < 1 || r.Runs != len(r.Values) {
			t.Errorf("%s %s: runs %d, %d values", r.Benchmark, r.Metric, r.Runs, len(r.Values))
		}
		if !(r.Min <= r.Median && r.Median <= r.Max) || r.Min != slices.Min(r.Values) || r.Max != slices.Max(r.Values) {
			t.Errorf("%s %s: min %g median %g max %g of %v", r.Benchmark, r.Metric, r.Min, r.Median, r.Max, r.Values)
		}
	}
	return &s
}

// chartRows returns the data-workload of every row group in the SVG file at path, parsed as XML.
func chartRows(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []string
	dec := xml.NewDecoder(f)
	sawSVG := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local == "svg" {
				sawSVG = true
			}
			for _, a := range se.Attr {
				if se.Name.Local == "g" && a.Name.Local == "data-workload" {
					rows = append(rows, a.Value)
				}
			}
		}
	}
	if !sawSVG {
		t.Fatalf("%s has no <svg> element", path)
	}
	return rows
}

// checkOutputs checks that every row of results.json is in the chart, the Markdown table and the
// printed table, each once.
func checkOutputs(t *testing.T, dir string, s *schemaV1, printed string) {
	t.Helper()
	got := chartRows(t, filepath.Join(dir, "chart.svg"))
	var want []string
	for _, r := range s.Rows {
		want = append(want, r.Workload)
	}
	if !slices.Equal(got, want) {
		t.Errorf("chart rows %v,\nwant the table's %v", got, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Rows {
		if n := strings.Count(string(md), "`"+r.Workload+"` |"); n != 1 {
			t.Errorf("results.md has row %s %d times", r.Workload, n)
		}
		if !strings.Contains(printed, r.Description) {
			t.Errorf("the printed table has no row %q", r.Description)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "raw.txt")); err != nil {
		t.Error(err)
	}
}

// TestRecordedQuickRun summarises a quick run recorded on this project's VM (go run ./cmd/shmbench
// -quick, its raw.txt) and checks the schema, and that the chart, the Markdown and the printed
// table have every workload, including the rows the issue names.
func TestRecordedQuickRun(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run([]string{"-out", dir, "-from", "testdata/quick.txt"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	s := readSchema(t, dir)
	checkOutputs(t, dir, s, out.String())
	var ids []string
	for _, r := range s.Rows {
		ids = append(ids, r.Workload)
	}
	for _, want := range []string{
		"ProcessStart", "HeapAlloc", "FutexPingPong", "LockUncontended", "LockContended",
		"EventPingPong", "ValueAdd", "ArrayScan", "QueueThroughput", "QueueThroughput/shmkit-default",
		"QueuePingPong", "QueueLarge", "QueueLarge/shmkit-get", "QueueLarge/shmkit-peek", "QueueWakeup",
		"PoolMapSquares", "PoolApply", "DictGet", "DictSet", "DictWatch/parked",
	} {
		if !slices.Contains(ids, want) {
			t.Errorf("no row %s in %v", want, ids)
		}
	}
	if s.Config["cpu"] == "" || s.Config["shmbench-mode"] != "quick" {
		t.Errorf("config %v: want the cpu and the mode", s.Config)
	}
}

// TestDoc rewrites the results section of a Markdown file and nothing else, and writes the chart
// beside it.
func TestDoc(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	before, after := "# Benchmarks\n\nkept above\n\n", "\n## Kept below\n"
	if err := os.WriteFile(doc, []byte(before+docBegin+"\nold table\n"+docEnd+after), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"-out", filepath.Join(dir, "out"), "-from", "testdata/quick.txt", "-doc", doc}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	md, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := string(md)
	if !strings.HasPrefix(got, before+docBegin) || !strings.HasSuffix(got, docEnd+after) || strings.Contains(got, "old table") {
		t.Errorf("the section was not replaced in place:\n%s", got)
	}
	s := readSchema(t, filepath.Join(dir, "out"))
	for _, r := range s.Rows {
		if !strings.Contains(got, "`"+r.Workload+"` |") {
			t.Errorf("no row %s in the document", r.Workload)
		}
	}
	if !strings.Contains(got, "```sh\ngo run ./cmd/shmbench -out /tmp/sbq -quick\n```") {
		t.Errorf("the document does not give the command that made the run:\n%s", got)
	}
	if rows := chartRows(t, filepath.Join(dir, "benchmarks.svg")); len(rows) != len(s.Rows) {
		t.Errorf("chart beside the document has %d rows, want %d", len(rows), len(s.Rows))
	}
}

// synthetic is go test output with known numbers: three runs of a shmkit workload and its Go
// baseline, a target, a python baseline reporting its own metric, and a benchmark the tables do
// not know.
const synthetic = `goos: linux
goarch: amd64
pkg: github.com/shmkit/shmkit/bench
cpu: Test CPU
BenchmarkQueueLarge/shmkit-2         	10	  200000000 ns/op	 335.54 MB/s
BenchmarkQueueLarge/memcpy-2         	10	  100000000 ns/op	 671.09 MB/s
BenchmarkQueueLarge/shmkit-2         	10	  240000000 ns/op	 279.62 MB/s
BenchmarkQueueLarge/memcpy-2         	10	  100000000 ns/op	 671.09 MB/s
BenchmarkQueueLarge/shmkit-2         	10	  220000000 ns/op	 305.04 MB/s
BenchmarkQueueLarge/memcpy-2         	10	  110000000 ns/op	 610.08 MB/s
BenchmarkQueueThroughput/shmkit-2    	1000	      50 ns/op
BenchmarkQueueThroughput/python-2    	1	 900000000 ns/op	      8000 ns/msg
BenchmarkSomethingNew-2              	1000	      77 ns/op
PASS
ok  	github.com/shmkit/shmkit/bench	3.0s
`

// TestSpeedupsAndTargets checks the arithmetic on known numbers: the median of each side, the
// ratio of the medians, the target's verdict, the metric a baseline is compared in, and a row for
// a benchmark no table names.
func TestSpeedupsAndTargets(t *testing.T) {
	s, err := parseSuite(strings.NewReader(synthetic), "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	rows := s.rows()
	byID := map[string]*row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	large := byID["QueueLarge"]
	if large == nil {
		t.Fatalf("no QueueLarge row in %v", rows)
	}
	if m := large.Subject.median(); math.Abs(m-0.22) > 1e-12 {
		t.Errorf("shmkit median %g s, want 0.22", m)
	}
	if x := large.Speedup[sysGo]; math.Abs(x-0.1/0.22) > 1e-9 {
		t.Errorf("speedup vs memcpy %g, want %g", x, 0.1/0.22)
	}
	if len(large.Targets) != 1 || !large.Targets[0].Holds || large.Targets[0].Issue != 5 {
		t.Errorf("targets %+v: want issue 5's ≥ 40%% held (45%%)", large.Targets)
	}
	tp := byID["QueueThroughput"]
	if x := tp.Speedup[sysPython]; math.Abs(x-8000/50.0) > 1e-6 {
		t.Errorf("speedup vs python %g, want 160 (its ns/msg, not its ns/op)", x)
	}
	for _, tr := range tp.Targets {
		if tr.Against == sysPython && (tr.Holds || !strings.HasPrefix(tr.Status, "MISSED")) {
			t.Errorf("≥ 200× CPython at 160×: %+v", tr)
		}
		if tr.Against == sysGo && tr.Status != "not measured" {
			t.Errorf("no channel in this run, but %+v", tr)
		}
	}
	if r := byID["SomethingNew"]; r == nil || r.Description != "BenchmarkSomethingNew" || r.System != sysShmkit {
		t.Errorf("the unknown benchmark's row: %+v", r)
	}
}

// TestTables checks mapping.go's tables against each other: every target names a described
// workload and a column, with a bound that can be met.
func TestTables(t *testing.T) {
	for _, tg := range targets {
		if _, ok := workloads[tg.Workload]; !ok {
			t.Errorf("target %q: workload %s not in workloads", tg.Text, tg.Workload)
		}
		if tg.Against == "" && tg.Max <= 0 || tg.Against != "" && (tg.Min <= 0 || !slices.Contains(columns, tg.Against)) {
			t.Errorf("target %+v: want a column and Min > 0, or no column and Max > 0", tg)
		}
		if tg.Issue <= 0 || tg.Text == "" {
			t.Errorf("target %+v: no issue or text", tg)
		}
	}
	for sub, sys := range subSystems {
		if sys == sysShmkit || !slices.Contains(columns, sys) {
			t.Errorf("subSystems[%q] = %q: want a baseline column", sub, sys)
		}
	}
}

// TestRealRun runs the runner for real on one small benchmark package, quick mode: go test is
// started, its results are shown as they come, and the files are written and readable.
func TestRealRun(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := run([]string{"-out", dir, "-quick", "-pkg", "github.com/shmkit/shmkit/internal/fence", "-bench", "StoreRelease"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "package 1/1 github.com/shmkit/shmkit/internal/fence") ||
		!strings.Contains(errOut.String(), "BenchmarkStoreRelease/") {
		t.Errorf("no progress shown:\n%s", errOut.String())
	}
	s := readSchema(t, dir)
	checkOutputs(t, dir, s, out.String())
	if s.Config["benchtime"] != quickBenchtime || s.Config["commit"] == "" || s.Config["shmbench-mode"] != "custom" || s.Mode != "custom" {
		t.Errorf("config %v", s.Config)
	}
}
