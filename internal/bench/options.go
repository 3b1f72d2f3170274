package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shmbuf/shmbuf/internal/placement"
)

// Options select what a run measures and where its output goes.
//
// A run measures transfers (every selected transport at every size) unless
// Setup or Scaling is set; those two measure instead, and may be combined.
type Options struct {
	Transports []string // names; empty means all (of the selected measurement)
	Sizes      []int    // record sizes in bytes
	Warmup     int
	Reps       int
	Phase      time.Duration // minimum length of one repetition
	MinCount   int           // minimum records or round trips per repetition
	CPUs       []int         // cores to pin the peers to, writer first; nil: none
	Placement  string        // PlacementUsual (the default, ""), PlacementAny or a band: 90ns-350ns
	Setup      bool          // measure the cost of setting each mechanism up
	Setups     int           // setups measured per mechanism
	Scaling    bool          // measure many writers into one reader and the reverse
	Peers      []int         // process counts of Scaling
	JSON       string        // file for the JSON report, or ""
	Chart      string        // .svg or .png file, or ""
	Quiet      bool          // no progress bar, no estimate
}

// plan is what a run measures, resolved from Options.
type plan struct {
	transfers []Transport
	setups    []mechanism
	scalers   []scaler
}

// estimate returns the number of measurements and how long they take.
func (pl *plan) estimate(o Options) (int, time.Duration) {
	cells := pl.transferCells(o.Sizes)
	phases := time.Duration(o.Warmup+o.Reps) * o.Phase
	est := time.Duration(cells) * (phases + cellOverhead)
	if o.gated() && o.Reps > 1 {
		// A gated throughput cell is a cell per repetition (runGated).
		split := time.Duration(o.Reps) * (cellOverhead + time.Duration(o.Warmup)*warmPhase(o.Phase) + o.Phase)
		est += time.Duration(cells/2) * (split - phases - cellOverhead)
	}
	if pl.cells(o) > 0 && o.gated() && (o.Placement == "" || o.Placement == PlacementUsual) {
		est += calibrateProbes * (calibrationGap(o.Phase) + placement.Window)
	}
	steps := cells + len(pl.setups)
	est += time.Duration(len(pl.setups)*o.Setups) * 300 * time.Microsecond
	n := len(pl.scalers) * 2 * len(o.Peers) * len(o.Sizes)
	steps += n
	for _, k := range o.Peers {
		est += time.Duration(len(pl.scalers)*2*len(o.Sizes)) * 2 * (phases + time.Duration(k+1)*cellOverhead/2)
	}
	return steps, est
}

// gated says whether the run gates its cells (see gate: it does not
// where it cannot probe the peers' cores).
func (o Options) gated() bool {
	_, why := gateCPUs(o)
	return why == ""
}

// cells counts the cells a run gates: transfers and scaling.
func (pl *plan) cells(o Options) int {
	return pl.transferCells(o.Sizes) + len(pl.scalers)*2*len(o.Peers)*2*len(o.Sizes)
}

// transferCells counts the transfer cells: each supported transport and
// size in both modes.
func (pl *plan) transferCells(sizes []int) int {
	n := 0
	for _, size := range sizes {
		for _, t := range pl.transfers {
			if t.Unsupported(size) == "" {
				n += 2
			}
		}
	}
	return n
}

// describe says in a few words what the run measures.
func (pl *plan) describe(o Options) string {
	var parts []string
	if len(pl.transfers) > 0 {
		parts = append(parts, fmt.Sprintf("%d transports × %d sizes", len(pl.transfers), len(o.Sizes)))
	}
	if len(pl.setups) > 0 {
		parts = append(parts, fmt.Sprintf("setup of %d mechanisms × %d", len(pl.setups), o.Setups))
	}
	if len(pl.scalers) > 0 {
		parts = append(parts, fmt.Sprintf("scaling of %d transports with %s processes", len(pl.scalers), formatCPUs(o.Peers)))
	}
	return strings.Join(parts, ", ")
}

// Placements a run can measure transfers in (--placement).
const (
	PlacementUsual = "usual" // the host's usual placement of the peers' cores
	PlacementAny   = "any"   // wherever the host runs them
)

// Defaults for a full run and for --quick.
var (
	DefaultSizes = []int{64, 1 << 10, 16 << 10, 64 << 10, 1 << 20}
	QuickSizes   = []int{64, 64 << 10}
)

const (
	defaultPhase  = 150 * time.Millisecond
	quickPhase    = 40 * time.Millisecond
	defaultReps   = 5
	quickReps     = 3
	defaultSetups = 1000
	quickSetups   = 100
	maxPeers      = 64
)

// DefaultPeers are the process counts of --scaling.
var DefaultPeers = []int{1, 2, 4, 8}

// UsageError is a mistake in the command line or its arguments, found
// before anything is measured (the CLI exits with status 2 for it).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErr(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// selectNames returns the items of list (in its order) whose names
// o.Transports selects, or all of list when it selects none. what names
// the measurement in the error for an unknown name.
func selectNames[T any](o *Options, list []T, name func(T) string, what string) ([]T, error) {
	if len(o.Transports) == 0 {
		return list, nil
	}
	want := map[string]bool{}
	var known []string
	for _, x := range list {
		known = append(known, name(x))
	}
	for _, n := range o.Transports {
		n = strings.TrimSpace(n)
		if !slices.Contains(known, n) {
			slices.Sort(known)
			return nil, usageErr("unknown %s %q (known: %s)", what, n, strings.Join(known, ", "))
		}
		want[n] = true
	}
	var sel []T
	for _, x := range list {
		if want[name(x)] {
			sel = append(sel, x)
		}
	}
	return sel, nil
}

// resolve turns the options into a plan.
func (o *Options) resolve() (*plan, error) {
	pl := &plan{}
	var err error
	switch {
	case !o.Setup && !o.Scaling:
		pl.transfers, err = selectNames(o, all, Transport.Name, "transport")
		return pl, err
	case o.Setup && o.Scaling && len(o.Transports) > 0:
		return nil, usageErr("--transports selects for one measurement at a time: give --setup and --scaling separate runs")
	}
	if o.Setup {
		if pl.setups, err = selectNames(o, mechanisms, func(m mechanism) string { return m.name }, "mechanism for --setup"); err != nil {
			return nil, err
		}
		if o.Setups < 1 {
			return nil, usageErr("--setups must be at least 1")
		}
		if len(o.Sizes) != 1 || o.Sizes[0] > maxSetupSize {
			return nil, usageErr("--setup carries one message: give one size of at most %s", sizeLabel(maxSetupSize))
		}
	}
	if o.Scaling {
		if pl.scalers, err = selectNames(o, scalers, func(s scaler) string { return s.t.Name() }, "transport for --scaling"); err != nil {
			return nil, err
		}
		if len(o.Peers) == 0 {
			return nil, usageErr("--peers: no process counts given")
		}
		for _, s := range o.Sizes {
			if s < minStampedSize {
				return nil, usageErr("--scaling: record size %d is below %d bytes (a record carries a sequence number and a send time)", s, minStampedSize)
			}
		}
	}
	return pl, nil
}

// validate checks everything that can be checked before measuring.
func (o *Options) validate() (*plan, error) {
	pl, err := o.resolve()
	if err != nil {
		return nil, err
	}
	if len(o.Sizes) == 0 {
		return nil, usageErr("no record sizes selected")
	}
	for _, s := range o.Sizes {
		if s < MinSize || s > MaxSize {
			return nil, usageErr("record size %d out of range %d..%d", s, MinSize, MaxSize)
		}
	}
	switch o.Placement {
	case "", PlacementUsual, PlacementAny:
	default:
		if _, _, err := parseBand(o.Placement); err != nil {
			return nil, &UsageError{Err: err}
		}
	}
	if o.Reps < 1 || o.Warmup < 0 || o.Phase <= 0 || o.MinCount < 1 {
		return nil, usageErr("repetitions, warm-up, phase and minimum count must be positive")
	}
	if o.Chart != "" && len(pl.transfers) == 0 {
		return nil, usageErr("--chart draws the transfer measurement, which --setup and --scaling replace")
	}
	if o.Chart != "" {
		switch strings.ToLower(filepath.Ext(o.Chart)) {
		case ".svg", ".png":
		default:
			return nil, usageErr("chart %q: the file name must end in .svg or .png", o.Chart)
		}
		if err := checkWritable(o.Chart); err != nil {
			return nil, usageErr("chart: %v", err)
		}
	}
	if o.JSON != "" {
		if err := checkWritable(o.JSON); err != nil {
			return nil, usageErr("json: %v", err)
		}
	}
	return pl, nil
}

// checkWritable opens path for writing without truncating it, and removes
// it again if it did not exist, so a bad path fails before the run rather
// than after minutes of measuring.
func checkWritable(path string) error {
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot write %s: %v", path, pe.Err)
		}
		return err
	}
	f.Close()
	if errors.Is(statErr, os.ErrNotExist) {
		os.Remove(path)
	}
	return nil
}
