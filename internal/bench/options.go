package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options select what a run measures and where its output goes.
type Options struct {
	Transports []string // names; empty means all
	Sizes      []int    // record sizes in bytes
	Warmup     int
	Reps       int
	Phase      time.Duration // minimum length of one repetition
	MinCount   int           // minimum records or round trips per repetition
	JSON       string        // file for the JSON report, or ""
	Chart      string        // .svg or .png file, or ""
	Quiet      bool          // no progress bar, no estimate
}

// Defaults for a full run and for --quick.
var (
	DefaultSizes = []int{64, 1 << 10, 16 << 10, 64 << 10, 1 << 20}
	QuickSizes   = []int{64, 64 << 10}
)

const (
	defaultPhase = 150 * time.Millisecond
	quickPhase   = 40 * time.Millisecond
	defaultReps  = 5
	quickReps    = 3
)

// UsageError is a mistake in the command line or its arguments, found
// before anything is measured (the CLI exits with status 2 for it).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErr(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// transports resolves the selected names in table order.
func (o *Options) transports() ([]Transport, error) {
	if len(o.Transports) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range o.Transports {
		t, err := Lookup(strings.TrimSpace(n))
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		want[t.Name()] = true
	}
	var ts []Transport
	for _, t := range all {
		if want[t.Name()] {
			ts = append(ts, t)
		}
	}
	return ts, nil
}

// validate checks everything that can be checked before measuring.
func (o *Options) validate() ([]Transport, error) {
	ts, err := o.transports()
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
	if o.Reps < 1 || o.Warmup < 0 || o.Phase <= 0 || o.MinCount < 1 {
		return nil, usageErr("repetitions, warm-up, phase and minimum count must be positive")
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
	return ts, nil
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
