package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Report is a whole run: the machine and one Result per transport and
// size. It is what --json writes.
type Report struct {
	Machine Machine  `json:"machine"`
	Command string   `json:"command,omitempty"`
	Results []Result `json:"results"`
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
	ts, err := opts.validate()
	if err != nil {
		return nil, err
	}
	reg := newRegistry()
	defer func() {
		if cerr := reg.runAll(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	h, err := newHarness(reg, settings{Warmup: opts.Warmup, Reps: opts.Reps, Phase: opts.Phase, MinCount: opts.MinCount})
	if err != nil {
		return nil, err
	}
	cells := 0
	for _, size := range opts.Sizes {
		for _, t := range ts {
			if t.Unsupported(size) == "" {
				cells += 2
			}
		}
	}
	per := time.Duration(opts.Warmup+opts.Reps)*opts.Phase + cellOverhead
	if !opts.Quiet {
		fmt.Fprintf(stderr, "shmbuf bench: %d transports × %d sizes, %d measurements, about %s\n",
			len(ts), len(opts.Sizes), cells, (time.Duration(cells) * per).Round(time.Second))
	}
	bar := newProgress(stderr, cells, opts.Quiet)
	rep = &Report{Machine: thisMachine()}
	var failed []string
	for _, size := range opts.Sizes {
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
					bar.finish()
					return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
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
	bar.finish()
	if len(failed) > 0 {
		return rep, fmt.Errorf("%d measurements failed: %v", len(failed), failed)
	}
	return rep, nil
}
