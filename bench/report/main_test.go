package main

import (
	"strings"
	"testing"
)

func TestParseAndMedian(t *testing.T) {
	in := `goos: linux
BenchmarkQ/shmkit-2   1000   40 ns/op   3.5 Mmsg/s
BenchmarkQ/chan-2     1000   90 ns/op
BenchmarkQ/shmkit-2   1000   60 ns/op   2.5 Mmsg/s
BenchmarkQ/chan-2     1000  110 ns/op
BenchmarkQ/shmkit-2   1000   50 ns/op   3.0 Mmsg/s
BenchmarkSolo-2         10  7 ns/op
PASS`
	bs := parse(strings.NewReader(in))
	if len(bs) != 2 || bs[0].name != "BenchmarkQ" || len(bs[0].subs) != 2 || bs[1].subs[0].name != "-" {
		t.Fatalf("parsed %+v", bs)
	}
	if m, n := median(bs[0].subs[0], "ns/op"); m != 50 || n != 3 {
		t.Fatalf("median shmkit = %v over %d", m, n)
	}
	if m, _ := median(bs[0].subs[1], "ns/op"); m != 100 {
		t.Fatalf("median chan = %v (even count: mean of the middle two)", m)
	}
	if m, _ := median(bs[0].subs[0], "Mmsg/s"); m != 3.0 {
		t.Fatalf("custom metric median = %v", m)
	}
	if u, hi := primary(bs[0]); u != "ns/op" || hi {
		t.Fatalf("primary = %s %v", u, hi)
	}
	if u, hi := primary(bs[0]); u != "ns/op" || hi {
		t.Fatalf("primary = %s %v", u, hi)
	}
	svg := chart([]ratio{{"Q vs chan", 2}, {"R vs pipe", 0.5}})
	if !strings.Contains(svg, "2.00×") || !strings.Contains(svg, "#c62828") {
		t.Fatalf("chart misses a bar: %s", svg)
	}
}
