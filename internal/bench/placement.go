package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/shmbuf/shmbuf/internal/placement"
)

// Placement. On a virtual machine the host decides where the vCPUs run,
// and it moves them. On the 2-vCPU VM this project is measured on, a
// cache line's round trip between the two vCPUs is about 55 ns (the two
// hyperthreads of one core), 135 ns (two cores sharing a cache) or 600 ns
// (no shared cache), and the host switches between these every second or
// so. Records cross between the peers as cache lines, so the ring's
// figures follow the placement: 64 KiB records at about 260k, 390k and
// 60k records/s in those three (BENCHMARKS.md). Two runs, or two rows of
// one run, compare only if they were measured in the same placement.
//
// So a run measures every transfer cell inside one placement: a band of
// round trips, either given (--placement 90ns-350ns) or learnt as the one
// the host usually gives (calibrate: the most frequent round trip among
// a few dozen probes, ±1.6×). Before a cell it waits until a probe finds
// the band, and it measures the cell again when the probe after it finds
// another one. A probe needs both cores, so it runs only between cells,
// while the peers are idle.

// Calibration and gate parameters: calibration takes calibrateProbes
// probes at most calibrateGap apart (less for short phases:
// calibrationGap); the gate probes for at most gateWait before it gives
// up on a cell,
// and waits over the whole run for at most the time the run's cells
// measure (placeGate.budget), so that a host that no longer gives the
// placement at most doubles the run; a cell is measured at most
// cellTries times.
const (
	calibrateProbes = 40
	calibrateGap    = 100 * time.Millisecond
	gateWait        = 3 * time.Second
	cellTries       = 3
)

// PlacementReport is the band of round trips the run measured its cells
// in and how it kept to it; it goes into the JSON.
type PlacementReport struct {
	// CPUs are the two cores probed: the peers' cores.
	CPUs [2]int `json:"cpus"`
	// BandNs is the band of round trips; Given is set when --placement
	// gave it, else it is the usual one: Usual of the calibration probes
	// (CalibrationNs) lay within 1.6× of UsualNs.
	BandNs        [2]int64 `json:"band_ns"`
	Given         bool     `json:"given,omitempty"`
	UsualNs       int64    `json:"usual_ns,omitempty"`
	Usual         int      `json:"usual,omitempty"`
	CalibrationNs []int64  `json:"calibration_ns,omitempty"`
	// WaitedNs is the time spent waiting for the band, Repeated the cells
	// measured again because a probe after them was outside it, Outside
	// the cells kept although a probe around them was outside it (their
	// rows say so).
	WaitedNs int64 `json:"waited_ns"`
	Repeated int   `json:"repeated"`
	Outside  int   `json:"outside"`
}

// placeGate keeps a run's cells in one band of round trips.
type placeGate struct {
	rep    PlacementReport
	waited time.Duration
	budget time.Duration // of waiting, for the whole run
}

// calibrate probes the placement calibrateProbes times, gap apart, and
// returns the gate for the band around the most frequent round trip.
func calibrate(ctx context.Context, cpus [2]int, gap time.Duration) (*placeGate, error) {
	rtts, err := placement.Sample(ctx, cpus[0], cpus[1], calibrateProbes, gap)
	if err != nil {
		return nil, err
	}
	p := &placeGate{rep: PlacementReport{CPUs: cpus}}
	for _, rtt := range rtts {
		p.rep.CalibrationNs = append(p.rep.CalibrationNs, int64(rtt))
	}
	usual, n := placement.MostFrequent(rtts)
	p.rep.UsualNs, p.rep.Usual = int64(usual), n
	p.rep.BandNs = [2]int64{int64(float64(usual) / placement.Ratio), int64(float64(usual) * placement.Ratio)}
	return p, nil
}

// await returns once a probe finds the round trip in the band, or when
// it has waited gateWait for this cell or the budget is spent; it returns
// the last probe's round trip.
func (p *placeGate) await(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	defer func() { p.waited += time.Since(start) }()
	until := start.Add(min(gateWait, p.budget-p.waited))
	return placement.Await(ctx, p.rep.CPUs[0], p.rep.CPUs[1], time.Duration(p.rep.BandNs[0]), time.Duration(p.rep.BandNs[1]), until)
}

// in says whether a probe's round trip, in ns, lies in the band.
func (r *PlacementReport) in(ns int64) bool { return ns >= r.BandNs[0] && ns <= r.BandNs[1] }

// parseBand parses --placement's band, naming the flag in its error.
func parseBand(s string) (lo, hi time.Duration, err error) {
	if lo, hi, err = placement.ParseBand(s); err != nil {
		err = fmt.Errorf("--placement %q: use %s, %s or a band of round trips like 90ns-350ns", s, PlacementUsual, PlacementAny)
	}
	return lo, hi, err
}

func (p *placeGate) probe() (time.Duration, error) {
	return placement.Probe(p.rep.CPUs[0], p.rep.CPUs[1], placement.Window)
}
