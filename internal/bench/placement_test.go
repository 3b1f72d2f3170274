package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// TestCommand_PlacementGate runs cells in a band no probe can find, so
// each cell is measured again up to cellTries times and then kept and
// marked, and the run still ends; then in a band every probe finds.
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
	if p.Outside != cells || p.Repeated != cells*(cellTries-1) {
		t.Errorf("outside %d, repeated %d; want %d and %d", p.Outside, p.Repeated, cells, cells*(cellTries-1))
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
