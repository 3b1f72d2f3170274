package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// NewCommand returns the complete `bench` command.
func NewCommand() *cobra.Command {
	var (
		transports, sizes, jsonPath, chartPath string
		quick, quiet                           bool
		reps, warmup                           int
		phase                                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure shmbuf against pipes, FIFOs, sockets and message queues on this machine",
		Long: `bench moves fixed-size records from a writer process to a reader process
over each transport and prints a comparison table.

Transports: ` + strings.Join(Names(), ", ") + `.

Every record carries a sequence number and a pattern; the reader verifies
every byte and the run fails on a mismatch, a loss or a duplicate, except
that the latest-value transports (snapshot, shm-file-flock) may lose values
by design: their losses are counted and shown.

Throughput is records (and bytes) per second received with the writer
running flat out: the median of the repetitions, after a warm-up. Latency
is one-way, half the round trip of a ping-pong, as p50, p99 and p99.9.
CPU is user+system time of both processes per record (getrusage).

A full run (5 sizes, every transport) takes about three minutes on a
2-core machine; --quick measures 64B and 64KiB in under 30 seconds.
Ctrl-C stops the run, kills its peer processes and removes every segment,
FIFO, queue and temporary directory it made.`,
		Example: `  shmbuf bench --quick
  shmbuf bench --transports pipe,ring,ring-spin --sizes 64,64KiB
  shmbuf bench --json results.json --chart results.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			o := Options{Warmup: warmup, Reps: defaultReps, Phase: defaultPhase, MinCount: 100,
				JSON: jsonPath, Chart: chartPath, Quiet: quiet, Sizes: DefaultSizes}
			if quick {
				o.Reps, o.Phase, o.Sizes, o.MinCount = quickReps, quickPhase, QuickSizes, 50
			}
			f := cmd.Flags()
			if f.Changed("reps") {
				o.Reps = reps
			}
			if f.Changed("phase") {
				o.Phase = phase
			}
			if f.Changed("sizes") {
				s, err := parseSizes(sizes)
				if err != nil {
					return &UsageError{Err: err}
				}
				o.Sizes = s
			}
			if f.Changed("transports") {
				o.Transports = strings.Split(transports, ",")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := Run(ctx, o, cmd.ErrOrStderr())
			if rep == nil {
				return err
			}
			rep.Command = "shmbuf bench " + strings.Join(os.Args[1:], " ")
			if os.Getenv("SHMBUF_BENCH_ARGS") != "" {
				rep.Command = os.Getenv("SHMBUF_BENCH_ARGS")
			}
			var errs []error
			errs = append(errs, err)
			if terr := writeTable(cmd.OutOrStdout(), rep.Machine, rep.Results, o.Sizes); terr != nil {
				errs = append(errs, terr)
			}
			if o.JSON != "" {
				errs = append(errs, writeJSON(o.JSON, rep))
			}
			if o.Chart != "" {
				errs = append(errs, WriteChart(o.Chart, rep))
			}
			return errors.Join(errs...)
		},
	}
	f := cmd.Flags()
	f.StringVar(&transports, "transports", "", "comma-separated transports to measure (default all)")
	f.StringVar(&sizes, "sizes", "64,1KiB,16KiB,64KiB,1MiB", "comma-separated record sizes")
	f.BoolVar(&quick, "quick", false, "64B and 64KiB only, short repetitions (under 30 s)")
	f.IntVar(&reps, "reps", defaultReps, "measured repetitions per transport and size (3 with --quick)")
	f.IntVar(&warmup, "warmup", 1, "warm-up repetitions, not counted")
	f.DurationVar(&phase, "phase", defaultPhase, "minimum length of one repetition (40ms with --quick)")
	f.StringVar(&jsonPath, "json", "", "also write the results as JSON to `FILE`")
	f.StringVar(&chartPath, "chart", "", "also draw a chart to `FILE` (.svg or .png)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar or estimate on stderr")
	return cmd
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
