package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
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
		fmt.Fprintf(stderr, "shmbuf bench: %s, %d measurements, about %s\n", pl.describe(opts), steps, est.Round(time.Second))
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
	rep.Load1After = load1()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("%d measurements failed: %v", len(failed), failed)
	}
	return rep, nil
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
				run, err := h.run(ctx, t, size, mode)
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
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return failed
}
