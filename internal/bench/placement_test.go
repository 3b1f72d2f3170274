package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// twoCPUs returns two cores this process may run on, or skips.
func twoCPUs(t *testing.T) [2]int {
	t.Helper()
	cpus := availableCPUs()
	if len(cpus) < 2 {
		testenv.Missing(t, "a second CPU")
	}
	return [2]int{cpus[0], cpus[1]}
}

// TestCommand_PlacementGate runs cells in a band no probe can find: the
// first gate spends the run's waiting budget, after which no cell waits
// or is measured again, every cell is kept and marked, and the run ends;
// then in a band every probe finds.
func TestCommand_PlacementGate(t *testing.T) {
	cpus := twoCPUs(t) // pinned: unpinned peers on more cores are not gated
	pin := formatCPUs(cpus[:])
	dir := t.TempDir()
	js := filepath.Join(dir, "r.json")
	var rep Report
	out, _, err := runCommand(t, "--transports", "pipe,ring", "--sizes", "64", "--reps", "1", "--phase", "2ms",
		"--cpus", pin, "--placement", "1ns-2ns", "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	readJSON(t, js, &rep)
	p := rep.Placement
	if p == nil || !p.Given || p.BandNs != [2]int64{1, 2} {
		t.Fatalf("placement %+v", p)
	}
	cells := 4 // two transports, two modes
	budget := time.Duration(cells*(1+1)) * 2 * time.Millisecond
	if p.Outside != cells || p.Repeated != 0 {
		t.Errorf("outside %d, repeated %d; want %d and 0", p.Outside, p.Repeated, cells)
	}
	// One probe and one pause past the budget at most, then no more.
	if w := time.Duration(p.WaitedNs); w < budget || w > budget+time.Second {
		t.Errorf("waited %v for a budget of %v", w, budget)
	}
	for _, r := range rep.Results {
		// Each kept cell was probed before and after.
		if !r.OutsidePlacement || len(r.PlacementNs) != 4 {
			t.Errorf("%s: outside %v, probes %v", r.Transport, r.OutsidePlacement, r.PlacementNs)
		}
	}
	if !strings.Contains(out, "measured outside the placement band") || !strings.Contains(out, "kept 4 outside it") {
		t.Errorf("table does not say the cells ran outside the band:\n%s", out)
	}

	// Outside counts cells, not rows: two repetitions are two throughput
	// cells, and the latency cell a third.
	if _, _, err := runCommand(t, "--transports", "ring", "--sizes", "64", "--reps", "2", "--phase", "2ms",
		"--cpus", pin, "--placement", "1ns-2ns", "--json", js, "--quiet"); err != nil {
		t.Fatal(err)
	}
	rep = Report{}
	readJSON(t, js, &rep)
	if p := rep.Placement; p == nil || p.Outside != 3 {
		t.Errorf("placement %+v, want 3 cells outside", p)
	}

	// Every probe is in 1ns..1h: nothing is repeated, and a throughput
	// cell of 3 repetitions is measured as 3 cells, each probed twice.
	out, _, err = runCommand(t, "--transports", "ring", "--sizes", "64", "--reps", "3", "--phase", "2ms",
		"--cpus", pin, "--placement", "1ns-1h", "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	rep = Report{}
	readJSON(t, js, &rep)
	if p := rep.Placement; p == nil || p.Outside != 0 || p.Repeated != 0 {
		t.Fatalf("placement %+v", p)
	}
	r := rep.Results[0]
	if r.OutsidePlacement || len(r.PlacementNs) != 3*2+2 || len(r.RepMsgsPerS) != 3 {
		t.Errorf("outside %v, probes %v, repetitions %v", r.OutsidePlacement, r.PlacementNs, r.RepMsgsPerS)
	}
	if !strings.Contains(out, "as given") || strings.Contains(out, "outside the placement band") {
		t.Errorf("table:\n%s", out)
	}
}

// TestAgain checks when a cell is measured again: only when a probe was
// outside the band, fewer than cellTries times, with budget left.
func TestAgain(t *testing.T) {
	h := &harness{place: &placeGate{rep: PlacementReport{BandNs: [2]int64{90, 350}}, budget: time.Second}}
	cases := []struct {
		probes []int64
		try    int
		waited time.Duration
		want   bool
	}{
		{[]int64{130, 140}, 1, 0, false},
		{[]int64{130, 600}, 1, 0, true},
		{[]int64{55, 130}, 2, 0, true},
		{[]int64{130, 600}, cellTries, 0, false},
		{[]int64{130, 600}, 1, time.Second, false},
	}
	repeated := 0
	for _, c := range cases {
		h.place.waited = c.waited
		if got := h.again(c.probes, c.try, time.Millisecond); got != c.want {
			t.Errorf("again(%v, try %d, waited %v) = %v", c.probes, c.try, c.waited, got)
		}
		// A discarded cell's time counts against the budget.
		if want := c.waited + map[bool]time.Duration{true: time.Millisecond}[c.want]; h.place.waited != want {
			t.Errorf("again(%v, try %d): waited %v, want %v", c.probes, c.try, h.place.waited, want)
		}
		if c.want {
			repeated++
		}
	}
	if h.place.rep.Repeated != repeated {
		t.Errorf("counted %d repetitions, want %d", h.place.rep.Repeated, repeated)
	}
	if (&harness{}).again([]int64{600}, 1, 0) {
		t.Error("a run that does not gate measured a cell again")
	}
}

// TestCommand_PlacementUsual runs with the default placement: the run
// calibrates, and the JSON and the table say what it found.
func TestCommand_PlacementUsual(t *testing.T) {
	cpus := twoCPUs(t)
	js := filepath.Join(t.TempDir(), "r.json")
	out, _, err := runCommand(t, "--transports", "pipe", "--sizes", "64", "--reps", "1", "--phase", "2ms",
		"--cpus", formatCPUs(cpus[:]), "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	p := rep.Placement
	if p == nil || p.Given || len(p.CalibrationNs) != calibrateProbes || p.Usual < 1 || p.Usual > calibrateProbes {
		t.Fatalf("placement %+v", p)
	}
	if p.BandNs[0] >= p.UsualNs || p.BandNs[1] <= p.UsualNs || !slices.ContainsFunc(p.CalibrationNs, func(v int64) bool { return v >= p.BandNs[0] && v <= p.BandNs[1] }) {
		t.Errorf("band %v around usual %d, calibration %v", p.BandNs, p.UsualNs, p.CalibrationNs)
	}
	if p.CPUs != cpus {
		t.Errorf("probed CPUs %v, peers pinned to %v", p.CPUs, cpus)
	}
	if !strings.Contains(out, "the usual:") {
		t.Errorf("table:\n%s", out)
	}

	// --placement any: nothing probed, and the table says so.
	out, _, err = runCommand(t, "--transports", "pipe", "--sizes", "64", "--reps", "1", "--phase", "2ms",
		"--placement", "any", "--json", js, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	rep = Report{}
	readJSON(t, js, &rep)
	if rep.Placement != nil || rep.NotGated != "--placement any" || len(rep.Results[0].PlacementNs) != 0 {
		t.Errorf("placement %+v, not gated %q, probes %v", rep.Placement, rep.NotGated, rep.Results[0].PlacementNs)
	}
	if !strings.Contains(out, "placement: not gated (--placement any)") {
		t.Errorf("table:\n%s", out)
	}
}
