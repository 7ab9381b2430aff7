// Command shmbench runs shmkit's benchmarks beside their baselines and says how shmkit compares:
// a table with a row per workload and a column per system measured in the same run (shmkit, the
// Go baseline, the OS baseline, CPython's multiprocessing when python3 is installed), the ratios,
// the medians of the runs and their spread, and whether each issue's target holds.
//
//	go run ./cmd/shmbench -out /tmp/bench -quick   # one short run of each benchmark (~2 min)
//	go run ./cmd/shmbench -out bench/results/new    # the full suite, 6 runs each (an hour or more)
//	go run ./cmd/shmbench -out DIR -from raw.txt   # summarise go test output recorded earlier
//
// It runs `go test -run '^$' -bench . -count N` in every package that has benchmarks (found by
// their `func Benchmark` lines, so a new package is included without editing anything), shows
// each result as it arrives, and writes into the output folder:
//
//   - raw.txt: go test's output, after configuration lines (machine, kernel, Go, Python, commit,
//     date, command) in the Go benchmark format, so benchstat and shmbench -from can read it again;
//   - results.json: every measurement and the table (schema shmbench/1, documented at Report);
//   - chart.svg: the ratios per workload on a log scale, a mark per target;
//   - results.md: the table in Markdown, as docs/benchmarks.md shows it.
//
// Parsing and statistics are golang.org/x/perf's: benchfmt reads the output, benchmath gives the
// medians and their confidence intervals as benchstat does. Which sub-benchmark is which system,
// what each workload is and the issues' targets are tables in mapping.go.
//
// The exit status is 1 when a benchmark failed (the files are still written); a missed target
// is reported, not an error: the numbers of a noisy machine are evidence, not a verdict.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shmbench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	out       string
	quick     bool
	full      bool
	count     int
	benchtime string
	bench     string
	pkgs      string
	from      string
	doc       string
	timeout   time.Duration
}

// The two modes. Quick is for CI: each benchmark runs once, briefly (a benchmark whose single op
// takes longer than the benchtime runs one op), enough to see that all of it works, not to
// publish. Full is for publishing: 6 runs of go test's default benchtime.
const (
	quickCount     = 1
	quickBenchtime = "20ms"
	fullCount      = 6
	fullBenchtime  = "1s"
)

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("shmbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "the folder to write raw.txt, results.json, chart.svg and results.md into (required)")
	fs.BoolVar(&o.quick, "quick", false, fmt.Sprintf("quick mode, for CI: -count %d -benchtime %s", quickCount, quickBenchtime))
	fs.BoolVar(&o.full, "full", false, fmt.Sprintf("full mode, for publishing (the default): -count %d -benchtime %s", fullCount, fullBenchtime))
	fs.IntVar(&o.count, "count", 0, "runs of each benchmark (overrides the mode's)")
	fs.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime (overrides the mode's)")
	fs.StringVar(&o.bench, "bench", ".", "go test -bench: which benchmarks")
	fs.StringVar(&o.pkgs, "pkg", "", "comma-separated packages to run (default: every package with benchmarks)")
	fs.StringVar(&o.from, "from", "", "summarise this recorded go test output instead of running")
	fs.StringVar(&o.doc, "doc", "", "also rewrite this Markdown file's results section (between "+docBegin+" and "+docEnd+") from this run, and write the chart beside it as benchmarks.svg")
	fs.DurationVar(&o.timeout, "timeout", 0, "go test -timeout per package (default: 15m quick, 3h full)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.out == "" || fs.NArg() > 0 || (o.quick && o.full) {
		fs.Usage()
		return errors.New("usage: shmbench -out DIR [-quick|-full] [-count N] [-benchtime T] [-bench RE] [-pkg P,...] [-from FILE]")
	}
	mode, count, benchtime, timeout := "full", fullCount, fullBenchtime, 3*time.Hour
	if o.quick {
		mode, count, benchtime, timeout = "quick", quickCount, quickBenchtime, 15*time.Minute
	}
	if o.count > 0 || o.benchtime != "" || o.bench != "." || o.pkgs != "" {
		mode = "custom"
	}
	if o.count > 0 {
		count = o.count
	}
	if o.benchtime != "" {
		benchtime = o.benchtime
	}
	if o.timeout > 0 {
		timeout = o.timeout
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	rawPath := filepath.Join(o.out, "raw.txt")
	var failed error
	if o.from != "" {
		mode = "recorded"
		raw, err := os.ReadFile(o.from)
		if err != nil {
			return err
		}
		if filepath.Clean(o.from) != filepath.Clean(rawPath) {
			if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
				return err
			}
		}
	} else {
		failed = runSuite(o, mode, count, benchtime, timeout, rawPath, stderr)
	}
	f, err := os.Open(rawPath)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := parseSuite(f, rawPath)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	s.Failures = failLines(f)
	rows := s.rows()
	if len(rows) == 0 {
		return errors.Join(failed, fmt.Errorf("no benchmark results in %s", rawPath))
	}
	if mode == "recorded" {
		count, benchtime = 0, s.Config["benchtime"]
		if m := s.Config["shmbench-mode"]; m != "" {
			mode = m
		}
	}
	rep := report(s, rows, mode, count, benchtime)
	if err := writeFile(filepath.Join(o.out, "results.json"), func(w io.Writer) error { return writeJSON(w, rep) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.out, "chart.svg"), func(w io.Writer) error { return writeSVG(w, rows, subtitle(s, rows)) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(o.out, "results.md"), func(w io.Writer) error { return writeMarkdown(w, rows) }); err != nil {
		return err
	}
	if o.doc != "" {
		if err := updateDoc(o.doc, s, rows, o.out, rawPath); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	if err := writeText(stdout, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\n×: the baseline's median time ÷ shmkit's (above 1, shmkit is faster); (min–max) over the runs.\nWrote %s, results.json, chart.svg and results.md in %s\n",
		subtitle(s, rows), filepath.Base(rawPath), o.out)
	if len(s.Failures) > 0 {
		failed = errors.Join(failed, fmt.Errorf("%d failures in the benchmarks' output: %s", len(s.Failures), strings.Join(s.Failures, "; ")))
	}
	return failed
}

// The markers around the part of docs/benchmarks.md that -doc rewrites.
const (
	docBegin = "<!-- shmbench results: begin -->"
	docEnd   = "<!-- shmbench results: end -->"
)

// updateDoc replaces the results section of the Markdown file at path with this run's: how it
// was made, the chart (written beside the file as benchmarks.svg) and the table.
func updateDoc(path string, s *suite, rows []*row, outDir, rawPath string) error {
	md, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(md, []byte(docBegin)), bytes.Index(md, []byte(docEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s section to rewrite", path, docBegin, docEnd)
	}
	chart := filepath.Join(filepath.Dir(path), "benchmarks.svg")
	if err := writeFile(chart, func(w io.Writer) error { return writeSVG(w, rows, subtitle(s, rows)) }); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(docBegin + "\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./cmd/shmbench -out %s -from %s -doc %s` from the run made with:\n\n",
		filepath.ToSlash(outDir), filepath.ToSlash(rawPath), filepath.ToSlash(path))
	command := s.Config["command"]
	if command == "" {
		command = "# the command is not recorded in " + filepath.ToSlash(rawPath)
	}
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", command)
	fmt.Fprintf(&b, "Machine and run: %s.\n\n", subtitle(s, rows))
	b.WriteString("![shmkit against each baseline](benchmarks.svg)\n\n")
	b.WriteString("Each cell is the median over the runs, with (min–max); ×: the baseline's median time ÷ shmkit's, above 1 shmkit is faster. A target \"within noise\" would flip at the unfavourable ends of the 95% confidence intervals.\n\n")
	if err := writeMarkdown(&b, rows); err != nil {
		return err
	}
	b.WriteString("\n")
	out := append(append(append([]byte{}, md[:i]...), b.Bytes()...), md[j:]...)
	return os.WriteFile(path, out, 0o644)
}

// subtitle describes the run in one line: machine, Go, Python, runs.
func subtitle(s *suite, rows []*row) string {
	var parts []string
	for _, k := range []string{"cpu", "ncpu", "kernel", "go", "python", "commit", "date", "shmbench-mode"} {
		if v := s.Config[k]; v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	n := 0
	for _, r := range rows {
		n = max(n, len(r.Subject.Values))
	}
	parts = append(parts, fmt.Sprintf("up to %d runs per benchmark", n))
	return strings.Join(parts, ", ")
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// failLines returns go test's lines that report a failure.
func failLines(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "panic:") {
			out = append(out, l)
		}
	}
	return out
}

// benchPackages lists the packages whose tests declare a benchmark, in go list's order.
func benchPackages() ([]string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(gomod)) == 0 || string(bytes.TrimSpace(gomod)) == os.DevNull {
		return nil, fmt.Errorf("not inside the shmkit module (go env GOMOD: %q, %v): run shmbench from the repository", gomod, err)
	}
	list := exec.Command("go", "list", "-f", `{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}`, "./...")
	list.Dir = filepath.Dir(string(bytes.TrimSpace(gomod))) // the whole module, wherever in it we are
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	decl := regexp.MustCompile(`(?m)^func Benchmark`)
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 {
			continue
		}
		for _, file := range strings.Fields(f[2]) {
			src, err := os.ReadFile(filepath.Join(f[1], file))
			if err != nil {
				return nil, err
			}
			if decl.Match(src) {
				pkgs = append(pkgs, f[0])
				break
			}
		}
	}
	return pkgs, nil
}

// runSuite runs go test in each package, appending the output to rawPath after the run's
// configuration lines, and reports each result on stderr as it arrives. It returns the packages
// whose go test failed.
func runSuite(o options, mode string, count int, benchtime string, timeout time.Duration, rawPath string, stderr io.Writer) error {
	pkgs := strings.Split(o.pkgs, ",")
	if o.pkgs == "" {
		var err error
		if pkgs, err = benchPackages(); err != nil {
			return err
		}
	}
	raw, err := os.Create(rawPath)
	if err != nil {
		return err
	}
	defer raw.Close()
	stderr = &lockedWriter{w: stderr} // go test's stderr and the progress lines, from two goroutines
	for _, kv := range machineConfig(mode, count, benchtime) {
		fmt.Fprintln(raw, kv)
	}
	start := time.Now()
	fmt.Fprintf(stderr, "shmbench: %d packages, -count %d -benchtime %s; results go to %s\n", len(pkgs), count, benchtime, o.out)
	var failed []error
	for i, pkg := range pkgs {
		fmt.Fprintf(stderr, "[%s] package %d/%d %s\n", elapsed(start), i+1, len(pkgs), pkg)
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", o.bench, "-count", fmt.Sprint(count),
			"-benchtime", benchtime, "-timeout", timeout.String(), pkg)
		pr, pw := io.Pipe()
		cmd.Stdout = pw
		cmd.Stderr = stderr // build messages and "go: downloading": not the benchmark format
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				fmt.Fprintln(raw, line)
				if t := strings.TrimSpace(line); strings.HasPrefix(t, "Benchmark") || strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "FAIL") {
					fmt.Fprintf(stderr, "[%s]   %s\n", elapsed(start), compact(t))
				}
			}
			io.Copy(io.Discard, pr)
		}()
		err := cmd.Run()
		pw.Close()
		<-done
		if err != nil {
			failed = append(failed, fmt.Errorf("go test %s: %w", pkg, err))
		}
	}
	fmt.Fprintf(stderr, "[%s] done\n", elapsed(start))
	return errors.Join(failed...)
}

// A lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// compact squeezes a result line's runs of spaces for the progress display.
func compact(s string) string { return strings.Join(strings.Fields(s), " ") }

func elapsed(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// machineConfig is the configuration written at the top of raw.txt in the benchmark format's
// "key: value" form: what a reader needs to know to weigh the numbers, and how to reproduce them.
func machineConfig(mode string, count int, benchtime string) []string {
	kv := []string{
		"shmbench-mode: " + mode,
		fmt.Sprintf("count: %d", count),
		"benchtime: " + benchtime,
		fmt.Sprintf("ncpu: %d", runtime.NumCPU()),
		"date: " + time.Now().UTC().Format(time.RFC3339),
		"command: go run ./cmd/shmbench " + strings.Join(os.Args[1:], " "),
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kv = append(kv, "kernel: "+strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		kv = append(kv, "go: "+strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("python3", "--version").CombinedOutput(); err == nil {
		kv = append(kv, "python: "+strings.TrimSpace(strings.TrimPrefix(string(out), "Python ")))
	} else {
		kv = append(kv, "python: none (no CPython column)")
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			rev += "+changes"
		}
		kv = append(kv, "commit: "+rev)
	}
	return kv
}
