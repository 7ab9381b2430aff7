// Command report turns `go test -bench` output (several -count runs) into the tables of
// docs/benchmarks.md: for every benchmark, the median of each sub-benchmark, and how shmkit's
// median compares with each baseline measured in the same run. It can also draw the ratios as an
// SVG bar chart.
//
//	go test -run '^$' -bench . -count 6 ./bench | tee bench.txt
//	go run ./bench/report -svg docs/benchmarks.svg < bench.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A sample is one benchmark line's metrics, by unit.
type sample map[string]float64

type sub struct {
	name    string
	samples []sample
}

type bench struct {
	name string
	subs []*sub
}

var lineRE = regexp.MustCompile(`^(Benchmark[^/\s]+)(?:/(\S+?))?(?:-\d+)?\s+(\d+)\s+(.*)$`)

func parse(r io.Reader) []*bench {
	var order []*bench
	byName := map[string]*bench{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		b := byName[m[1]]
		if b == nil {
			b = &bench{name: m[1]}
			byName[m[1]] = b
			order = append(order, b)
		}
		subName := m[2]
		if subName == "" {
			subName = "-"
		}
		var s *sub
		for _, x := range b.subs {
			if x.name == subName {
				s = x
			}
		}
		if s == nil {
			s = &sub{name: subName}
			b.subs = append(b.subs, s)
		}
		f := strings.Fields(m[4])
		smp := sample{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				smp[f[i+1]] = v
			}
		}
		s.samples = append(s.samples, smp)
	}
	return order
}

func median(s *sub, unit string) (float64, int) {
	var v []float64
	for _, x := range s.samples {
		if y, ok := x[unit]; ok {
			v = append(v, y)
		}
	}
	if len(v) == 0 {
		return math.NaN(), 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], len(v)
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, len(v)
}

// primary is the unit a benchmark is compared in: throughput when it reports it, else time.
func primary(b *bench) (unit string, higherBetter bool) {
	for _, s := range b.subs {
		for _, x := range s.samples {
			if _, ok := x["MB/s"]; ok {
				return "MB/s", true
			}
		}
	}
	return "ns/op", false
}

func human(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	if unit == "ns/op" {
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2f ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.2f µs", v/1e3)
		default:
			return fmt.Sprintf("%.1f ns", v)
		}
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

type ratio struct {
	label string
	x     float64 // > 1: shmkit better
}

func main() {
	svg := flag.String("svg", "", "also write a bar chart of the ratios to this file")
	flag.Parse()
	benches := parse(os.Stdin)
	var ratios []ratio
	for _, b := range benches {
		unit, higher := primary(b)
		fmt.Printf("### %s\n\n| sub-benchmark | median %s | runs | shmkit vs this |\n|---|---:|---:|---:|\n", b.name, unit)
		mine, mineNs := math.NaN(), math.NaN()
		for _, s := range b.subs {
			if s.name == "shmkit" {
				mine, _ = median(s, unit)
				mineNs, _ = median(s, "ns/op")
			}
		}
		for _, s := range b.subs {
			m, n := median(s, unit)
			shown, shownUnit := m, unit
			x := math.NaN()
			switch {
			case strings.HasPrefix(s.name, "shmkit"): // shmkit itself, or a variant of it
				if s.name != "shmkit" && !math.IsNaN(m) && mine > 0 {
					r := m / mine
					if !higher {
						r = mine / m
					}
					extra := fmt.Sprintf("a shmkit variant: %.2f× the plain one", r)
					fmt.Printf("| %s | %s | %d | %s |\n", s.name, human(m, unit), n, extra)
					continue
				}
			case !math.IsNaN(m) && m > 0 && mine > 0:
				x = m / mine
				if higher {
					x = mine / m
				}
			default:
				// A baseline that does not report the benchmark's unit (a Python script
				// reporting only time) is compared on ns/op, with the time shown.
				if ns, k := median(s, "ns/op"); ns > 0 && mineNs > 0 {
					x, shown, shownUnit, n = ns/mineNs, ns, "ns/op", k
				}
			}
			cmp := ""
			if !math.IsNaN(x) {
				if x >= 1 {
					cmp = fmt.Sprintf("%.2f× better", x)
				} else {
					cmp = fmt.Sprintf("%.2f× worse", 1/x)
				}
				ratios = append(ratios, ratio{strings.TrimPrefix(b.name, "Benchmark") + " vs " + s.name, x})
			}
			var keys []string
			for k := range s.samples[0] {
				if k != unit && k != "ns/op" && k != "B/op" && k != "allocs/op" && k != "MB/s" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			extra := ""
			for _, k := range keys {
				v, _ := median(s, k)
				extra += fmt.Sprintf(" (%s %.4g)", k, v)
			}
			fmt.Printf("| %s | %s%s | %d | %s |\n", s.name, human(shown, shownUnit), extra, n, cmp)
		}
		fmt.Println()
	}
	if *svg != "" {
		if err := os.WriteFile(*svg, []byte(chart(ratios)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// chart draws one horizontal bar per ratio on a log scale, 1× marked.
func chart(rs []ratio) string {
	const w, rowH, left, right = 900, 22, 330, 60
	h := 40 + rowH*len(rs)
	lo, hi := 0.1, 10.0
	for _, r := range rs {
		lo, hi = math.Min(lo, r.x/1.5), math.Max(hi, r.x*1.5)
	}
	scale := func(x float64) float64 {
		return left + (math.Log10(x)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(w-left-right)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&sb, `<text x="%d" y="16" font-weight="bold">shmkit vs baseline, same run (log scale; right of the line: shmkit faster)</text>`+"\n", 10)
	one := scale(1)
	for i, r := range rs {
		y := 30 + i*rowH
		x0, x1 := math.Min(one, scale(r.x)), math.Max(one, scale(r.x))
		color := "#2e7d32"
		if r.x < 1 {
			color = "#c62828"
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+14, escape(r.label))
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+3, math.Max(x1-x0, 1), rowH-6, color)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%.2f×</text>`+"\n", x1+4, y+14, r.x)
	}
	fmt.Fprintf(&sb, `<line x1="%.1f" y1="24" x2="%.1f" y2="%d" stroke="black"/>`+"\n", one, one, h-4)
	sb.WriteString("</svg>\n")
	return sb.String()
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
