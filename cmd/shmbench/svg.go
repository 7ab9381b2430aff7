package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// The chart is drawn by hand rather than with gonum.org/v1/plot: a horizontal bar per baseline
// on a log axis with a target mark in each row is a custom plotter there anyway, and this file
// keeps the chart a few kilobytes of plain SVG (text a browser can search and a test can read)
// without adding plot's dependencies to the module.

// barColor is each baseline column's colour (colour-blind-safe Okabe–Ito hues).
var barColor = map[string]string{sysGo: "#0072B2", sysOS: "#E69F00", sysPython: "#009E73"}

const (
	svgWidth  = 1100
	labelW    = 360 // the workload's description
	plotX0    = labelW + 10
	plotX1    = svgWidth - 250 // room for the last bar's label
	barH      = 12
	rowPad    = 8
	headerH   = 104
	axisH     = 28
	svgFooter = 40
)

// writeSVG draws every row's speedups against each baseline on a log scale, with each target as
// a mark in its row. A row without a baseline (or with a bound on its own value) shows its
// median and target as text, so that every workload is in the chart.
func writeSVG(w io.Writer, rows []*row, subtitle string) error {
	lo, hi := 1.0, 1.0
	for _, r := range rows {
		for _, x := range r.Speedup {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		for _, t := range r.Targets {
			if t.Against != "" {
				lo, hi = math.Min(lo, t.Min), math.Max(hi, t.Min)
			}
		}
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi/lo < 100 {
		hi = lo * 100
	}
	xOf := func(v float64) float64 {
		return plotX0 + (plotX1-plotX0)*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	rowH := func(r *row) int {
		n := 0
		for _, c := range columns {
			if _, ok := r.Speedup[c]; ok {
				n++
			}
		}
		return max(n, 1)*barH + rowPad
	}
	height := headerH + axisH + svgFooter
	for _, r := range rows {
		height += rowH(r)
	}
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	esc := html.EscapeString
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`+"\n", svgWidth, height, svgWidth, height)
	p(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p(`<text x="10" y="22" font-size="16" font-weight="bold">shmkit against its baselines, measured in the same run</text>` + "\n")
	p(`<text x="10" y="40" fill="#444">Each bar: the baseline's median time ÷ shmkit's (log scale; right of 1× shmkit is faster). A black mark: the issue's target for that bar ("?": the verdict is within the noise).</text>` + "\n")
	for i, line := range wrap(subtitle, 150) {
		if i < 2 {
			p(`<text x="10" y="%d" fill="#444">%s</text>`+"\n", 56+14*i, esc(line))
		}
	}
	lx := 10.0
	for _, c := range columns {
		p(`<rect x="%.0f" y="80" width="12" height="12" fill="%s"/><text x="%.0f" y="90">vs the %s baseline</text>`+"\n", lx, barColor[c], lx+16, columnTitle[c])
		lx += 170
	}
	top := float64(headerH)
	bottom := top + axisH
	for _, r := range rows {
		bottom += float64(rowH(r))
	}
	// Decades: grid lines and labels, above and below the rows.
	for v := lo; v <= hi*1.0001; v *= 10 {
		x := xOf(v)
		stroke := "#ddd"
		if v == 1 {
			stroke = "#333"
		}
		p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s"/>`+"\n", x, top+axisH-6, x, bottom, stroke)
		p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s×</text>`+"\n", x, top+axisH-10, formatAxis(v))
		p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s×</text>`+"\n", x, bottom+16, formatAxis(v))
	}
	y := top + axisH
	for i, r := range rows {
		h := float64(rowH(r))
		if i%2 == 0 {
			p(`<rect x="0" y="%.0f" width="%d" height="%.0f" fill="#f4f6f8" fill-opacity="0.7"/>`+"\n", y, svgWidth, h)
		}
		p(`<g class="row" data-workload="%s"><title>%s — %s</title>`+"\n", esc(r.ID), esc(r.ID), esc(r.Description))
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", labelW, y+h/2+4, esc(r.Description))
		by := y + rowPad/2
		drew := false
		for _, c := range columns {
			x, ok := r.Speedup[c]
			if !ok {
				continue
			}
			drew = true
			x0, x1 := xOf(1), xOf(x)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s vs %s: %s</title></rect>`+"\n",
				math.Min(x0, x1), by+1, math.Max(math.Abs(x1-x0), 1), barH-2, barColor[c], esc(r.ID), esc(r.Baselines[c].Name), formatSpeedup(x, true))
			end := math.Max(x0, x1)
			label := formatSpeedup(x, true) + " vs " + r.Baselines[c].Sub
			for _, t := range r.Targets {
				if t.Against == c {
					label += fmt.Sprintf(" · target ≥ %s: %s", formatTarget(t.Min), shortStatus(t))
					tx := xOf(t.Min)
					end = math.Max(end, tx+1)
					p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="2.5"><title>target (#%d): %s — %s</title></line>`+"\n",
						tx, by-1, tx, by+barH+1, t.Issue, esc(t.Text), t.Status)
				}
			}
			p(`<text x="%.1f" y="%.1f" font-size="10" fill="#222">%s</text>`+"\n", end+4, by+barH-2, esc(label))
			by += barH
		}
		if !drew {
			msg := "no baseline in this run: " + formatValue(r.Subject.median(), r.Subject.Unit)
			for _, t := range r.Targets {
				if t.Against == "" {
					msg += fmt.Sprintf("; target ≤ %s (#%d): %s", formatValue(t.Max, r.Subject.Unit), t.Issue, shortStatus(t))
				}
			}
			p(`<text x="%d" y="%.1f" fill="#555" font-style="italic">%s</text>`+"\n", plotX0+4, y+h/2+4, esc(msg))
		}
		p("</g>\n")
		y += h
	}
	p("</svg>\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

// formatTarget prints a target's speedup briefly: 0.33×, 0.4×, 2×, 200×.
func formatTarget(x float64) string {
	if x >= 1 {
		return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64) + "×"
	}
	return strconv.FormatFloat(x, 'g', 2, 64) + "×"
}

// shortStatus is a target's verdict in a few characters: "met", "MISSED", with "?" when the
// confidence intervals would flip it.
func shortStatus(t targetResult) string {
	s := "met"
	if !t.Holds {
		s = "MISSED"
	}
	if !t.Sure {
		s += "?"
	}
	return s
}

// wrap splits s at spaces into lines of at most n characters (a longer word gets its own line).
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > n {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// formatAxis labels a decade: 0.01, 0.1, 1, 10, 100, 1000, 1e+04.
func formatAxis(v float64) string {
	if v >= 0.001 && v < 1e4 {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
	return fmt.Sprintf("%.0e", v)
}
