package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shmbuf/shmbuf/internal/placement"
)

// Report is a whole run: the machine, the conditions and the results of
// each measurement the run made. It is what --json writes.
type Report struct {
	Machine  Machine     `json:"machine"`
	Command  string      `json:"command,omitempty"`
	Settings RunSettings `json:"settings"`
	// Load1Before and Load1After are the 1-minute load average when the
	// run started and when it ended: other work on the machine during the
	// run shows up in the spread.
	Load1Before float64 `json:"load1_before"`
	Load1After  float64 `json:"load1_after"`
	// Results are the transfer measurement: one per transport and size.
	Results []Result `json:"results,omitempty"`
	// Setup is the --setup measurement, one per mechanism.
	Setup []SetupResult `json:"setup,omitempty"`
	// Scaling is the --scaling measurement, one per transport, direction
	// and number of processes.
	Scaling []ScalingResult `json:"scaling,omitempty"`
	// Placement is how the transfer cells were kept in the host's usual
	// placement of the peers' cores (see placement.go); NotGated says why
	// they were not, when they were not.
	Placement *PlacementReport `json:"placement,omitempty"`
	NotGated  string           `json:"not_gated,omitempty"`
}

// RunSettings are the measuring parameters of a run.
type RunSettings struct {
	Warmup   int   `json:"warmup"`
	Reps     int   `json:"reps"`
	PhaseNs  int64 `json:"phase_ns"`
	MinCount int   `json:"min_count"`
	// CPUs are the cores the peers were pinned to (writer first, reader
	// second, round robin); empty when they were not pinned.
	CPUs []int `json:"cpus,omitempty"`
	// Setups is the number of setups measured per mechanism (--setup).
	Setups int `json:"setups,omitempty"`
	// Peers are the process counts of --scaling.
	Peers []int `json:"peers,omitempty"`
}

// cellOverhead is the measured cost of starting two peers and setting up
// a cell, for the up-front estimate.
const cellOverhead = 100 * time.Millisecond

// Run measures what opts select and returns the report. Progress and the
// estimate go to stderr. Whatever the run made is removed before it
// returns, also when ctx is cancelled (Ctrl-C). A failed measurement does
// not stop the run: it is reported in its row, and Run returns an error
// after measuring the rest.
func Run(ctx context.Context, opts Options, stderr io.Writer) (rep *Report, err error) {
	pl, err := opts.validate()
	if err != nil {
		return nil, err
	}
	reg := newRegistry()
	defer func() {
		if cerr := reg.runAll(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	set := settings{Warmup: opts.Warmup, Reps: opts.Reps, Phase: opts.Phase, MinCount: opts.MinCount, CPUs: opts.CPUs}
	h, err := newHarness(reg, set)
	if err != nil {
		return nil, err
	}
	steps, est := pl.estimate(opts)
	if !opts.Quiet {
		wait := ""
		if opts.gated() && pl.cells(opts) > 0 {
			wait = ", more while it waits for the placement"
		}
		fmt.Fprintf(stderr, "shmbuf bench: %s, %d measurements, about %s%s\n", pl.describe(opts), steps, est.Round(time.Second), wait)
	}
	bar := newProgress(stderr, steps, opts.Quiet)
	defer bar.finish()
	rep = &Report{
		Machine: thisMachine(),
		Settings: RunSettings{Warmup: opts.Warmup, Reps: opts.Reps, PhaseNs: int64(opts.Phase),
			MinCount: opts.MinCount, CPUs: opts.CPUs},
		Load1Before: load1(),
	}
	var failed []string
	if len(pl.transfers) > 0 || len(pl.scalers) > 0 {
		if err := gate(ctx, h, opts, rep, pl.cells(opts)); err != nil {
			return nil, err
		}
	}
	if len(pl.transfers) > 0 {
		failed = append(failed, runTransfers(ctx, h, pl.transfers, opts.Sizes, bar, rep)...)
	}
	if len(pl.setups) > 0 {
		rep.Settings.Setups = opts.Setups
		failed = append(failed, runSetups(ctx, h, pl.setups, opts, bar, rep)...)
	}
	if len(pl.scalers) > 0 {
		rep.Settings.Peers = opts.Peers
		failed = append(failed, runScaling(ctx, h, pl.scalers, opts, bar, rep)...)
	}
	if h.place != nil {
		h.place.rep.WaitedNs = int64(h.place.waited)
		rep.Placement = &h.place.rep
	}
	rep.Load1After = load1()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("%d measurements failed: %v", len(failed), failed)
	}
	return rep, nil
}

// gate sets the harness up to keep transfer cells in the usual placement,
// or says in rep why it does not.
func gate(ctx context.Context, h *harness, opts Options, rep *Report, cells int) error {
	cpus, why := gateCPUs(opts)
	if why != "" {
		rep.NotGated = why
		return nil
	}
	var p *placeGate
	if opts.Placement == "" || opts.Placement == PlacementUsual {
		var err error
		if p, err = calibrate(ctx, cpus, calibrationGap(opts.Phase)); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			return err
		}
	} else {
		lo, hi, err := parseBand(opts.Placement)
		if err != nil {
			return err
		}
		p = &placeGate{rep: PlacementReport{CPUs: cpus, BandNs: [2]int64{int64(lo), int64(hi)}, Given: true}}
	}
	p.budget = time.Duration(cells*(opts.Warmup+opts.Reps)) * opts.Phase
	h.place = p
	return nil
}

// calibrationGap spaces the calibration probes: 100 ms for the default
// 150 ms phases, so that they span 4 s (the placement changes every
// second or so), and proportionally less for a run of short phases,
// which is not after precision (tests, --quick).
func calibrationGap(phase time.Duration) time.Duration {
	return min(calibrateGap, max(phase*2/3, time.Millisecond))
}

// gateCPUs returns the two cores a run gates on, or why it does not
// gate.
func gateCPUs(o Options) (cpus [2]int, why string) {
	if o.Placement == PlacementAny {
		return cpus, "--placement any"
	}
	if !placement.Concurrent() {
		return cpus, "GOMAXPROCS is 1: a probe needs two threads running at once"
	}
	cpus, ok := placement.Pair(o.CPUs)
	switch {
	case ok:
		return cpus, ""
	case len(o.CPUs) > 0:
		return cpus, "--cpus gives the peers one core"
	}
	return cpus, fmt.Sprintf("the peers are not pinned and this machine has %d cores; --cpus pins them", len(availableCPUs()))
}

// runTransfers measures each transport at each size in both modes and
// returns the measurements that failed.
func runTransfers(ctx context.Context, h *harness, ts []Transport, sizes []int, bar *progress, rep *Report) (failed []string) {
	for _, size := range sizes {
		for _, t := range ts {
			r := newResult(t, size)
			if why := t.Unsupported(size); why != "" {
				r.NA = true
				r.Note = "n/a: " + why
				rep.Results = append(rep.Results, r)
				continue
			}
			for _, mode := range []string{modeThroughput, modeLatency} {
				bar.describe(fmt.Sprintf("%-14s %6s %-10s", t.Name(), sizeLabel(size), mode))
				run, err := h.runGated(ctx, t, size, mode)
				bar.step()
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					r.fail(fmt.Errorf("%s: %w", mode, err))
					failed = append(failed, fmt.Sprintf("%s %s %s", t.Name(), sizeLabel(size), mode))
					break
				}
				if mode == modeThroughput {
					r.addThroughput(run)
				} else {
					r.addLatency(run)
				}
				h.keep(&r.Placed, run.placeNs)
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return failed
}

// runGated runs a cell. When the run gates cells, a throughput cell is
// cut into one cell per repetition, each gated and measured again when a
// probe around it found another placement: the placement changes every
// second or so, and a probe can only run between cells, so the shorter
// the cell, the fewer changes go unseen. A latency cell stays whole (its
// percentiles come from one histogram) and is gated the same way.
func (h *harness) runGated(ctx context.Context, t Transport, size int, mode string) (cellRun, error) {
	if h.place == nil || mode != modeThroughput || h.set.Reps == 1 {
		return h.runInPlace(ctx, t, size, mode)
	}
	one := *h
	one.set.Reps = 1
	one.set.WarmPhase = warmPhase(h.set.Phase)
	var all cellRun
	for range h.set.Reps {
		run, err := one.runInPlace(ctx, t, size, mode)
		if err != nil {
			return run, err
		}
		all.merge(run)
	}
	return all, nil
}

// warmPhase is the warm-up of a gated run's one-repetition cells: enough
// to fault the channel in and settle the peers, short enough that the
// run does not double.
func warmPhase(phase time.Duration) time.Duration { return max(phase/4, time.Millisecond) }

// runInPlace runs a cell and, when the run gates cells and a probe around
// it found another placement, runs it again, up to cellTries times in
// all; it returns the last run.
func (h *harness) runInPlace(ctx context.Context, t Transport, size int, mode string) (cellRun, error) {
	for try := 1; ; try++ {
		start := time.Now()
		run, err := h.run(ctx, t, size, mode)
		if err != nil || !h.again(run.placeNs, try, time.Since(start)) {
			return run, err
		}
	}
}

// again says whether a cell whose probes were probes, measured try times
// so far, the last taking took, is to be measured again: when a probe was
// outside the band, fewer than cellTries times, and while the run's
// budget lasts (a host that no longer gives the placement would otherwise
// triple the run). It counts the repetition, and the discarded cell's
// time against the budget, as waiting is.
func (h *harness) again(probes []int64, try int, took time.Duration) bool {
	if h.place == nil || h.inPlace(probes) || try >= cellTries || h.place.waited >= h.place.budget {
		return false
	}
	h.place.rep.Repeated++
	h.place.waited += took
	return true
}
