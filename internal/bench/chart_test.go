package bench

import (
	"fmt"
	"testing"
)

// TestChart_Distinguishable checks that every transport of a full report
// gets its own colour and marker, that the kernel and software groups are
// told apart by the line (dashed or solid), and that the latency axis
// reaches down to 10 ns.
func TestChart_Distinguishable(t *testing.T) {
	rep := &Report{}
	names := Names()
	for i, n := range names {
		kind := "software"
		if t, err := Lookup(n); err == nil && t.Kernel() {
			kind = "kernel"
		}
		for _, size := range []int{64, 64 << 10} {
			rep.Results = append(rep.Results, Result{Transport: n, Kind: kind, Size: size,
				MsgsPerS: float64(1000 * (i + 1)), BytesPerS: float64(1000 * (i + 1) * size),
				P50: int64(100 * (i + 1)), P99: int64(300 * (i + 1))})
		}
	}
	ss := chartSeries(rep)
	if len(ss) != len(names) {
		t.Fatalf("%d series for %d transports", len(ss), len(names))
	}
	seen := map[string]string{}
	for i, s := range ss {
		key := fmt.Sprintf("%v %T", s.glyph.Color, s.glyph.Shape)
		if other, ok := seen[key]; ok {
			t.Errorf("%s and %s look alike (%s)", s.name, other, key)
		}
		seen[key] = s.name
		if dashed := len(s.line.Dashes) > 0; dashed != s.kernel {
			t.Errorf("%s: dashed %v, kernel %v", s.name, dashed, s.kernel)
		}
		if i > 0 && s.kernel && !ss[i-1].kernel {
			t.Errorf("kernel transport %s after a software one", s.name)
		}
	}
	_, lp, _, err := chartPlots(rep)
	if err != nil {
		t.Fatal(err)
	}
	if lp.Y.Min > 10 {
		t.Errorf("latency axis starts at %v ns", lp.Y.Min)
	}
	labelled := 0
	for _, tick := range lp.Y.Tick.Marker.Ticks(lp.Y.Min, lp.Y.Max) {
		if tick.Label == "10ns" || tick.Label == "100ns" {
			labelled++
		}
	}
	if labelled != 2 {
		t.Errorf("10ns and 100ns are not both labelled")
	}
}
