package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// NewCommand returns the complete `bench` command.
func NewCommand() *cobra.Command {
	var (
		transports, sizes, jsonPath, chartPath, cpus, peers string
		quick, quiet, setup, scaling                        bool
		reps, warmup, setups                                int
		phase                                               time.Duration
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
running flat out: the median of the repetitions, after a warm-up, with
± half their range. Latency is one-way, half the round trip of a
ping-pong, as p50, p99 and p99.9. CPU is user+system time of both
processes per record (getrusage). The 1-minute load average before and
after the run is printed under the table: other work on the machine
shows up as spread.

--setup measures instead what it costs to set each mechanism up, carry
one message and remove it again (` + strings.Join(mechanismNames(), ", ") + `),
as the median and p99 of --setups setups, both ends in one process.

--scaling measures instead many processes: 1 writer into 1 reader, then
more writer processes into one reader, and one writer to more reader
processes, with the counts of --peers, for ` + strings.Join(scalerNames(), ", ") + `.
Records/s is what all readers verified together (every byte, and each
writer's order); latency is one-way from the send time stamped in each
record at a light load. More processes than cores is noted.

A full run (5 sizes, every transport) takes about three minutes on a
2-core machine; --quick measures 64B and 64KiB in under 30 seconds.
Ctrl-C stops the run, kills its peer processes and removes every segment,
FIFO, queue and temporary directory it made.`,
		Example: `  shmbuf bench --quick
  shmbuf bench --transports pipe,pipe-buffered,ring --sizes 64,64KiB --cpus 0,1
  shmbuf bench --json results.json --chart results.png
  shmbuf bench --setup
  shmbuf bench --scaling --peers 1,2,3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			f := cmd.Flags()
			o := Options{Warmup: warmup, Reps: defaultReps, Phase: defaultPhase, MinCount: 100,
				JSON: jsonPath, Chart: chartPath, Quiet: quiet, Sizes: DefaultSizes,
				Setup: setup, Setups: defaultSetups, Scaling: scaling, Peers: DefaultPeers}
			if setup || scaling {
				o.Sizes = []int{64}
			}
			if quick {
				o.Reps, o.Phase, o.MinCount, o.Setups = quickReps, quickPhase, 50, quickSetups
				if !setup && !scaling {
					o.Sizes = QuickSizes
				}
			}
			if f.Changed("reps") {
				o.Reps = reps
			}
			if f.Changed("phase") {
				o.Phase = phase
			}
			if f.Changed("setups") {
				if !setup {
					return usageErr("--setups goes with --setup")
				}
				o.Setups = setups
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
			if f.Changed("cpus") {
				c, err := parseCPUs(cpus)
				if err != nil {
					return usageErr("--cpus: %v", err)
				}
				o.CPUs = c
			}
			if f.Changed("peers") {
				if !scaling {
					return usageErr("--peers goes with --scaling")
				}
				p, err := parsePeers(peers)
				if err != nil {
					return usageErr("--peers: %v", err)
				}
				o.Peers = p
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := Run(ctx, o, cmd.ErrOrStderr())
			if rep == nil {
				return err
			}
			rep.Command = "shmbuf " + strings.Join(os.Args[1:], " ")
			if os.Getenv("SHMBUF_BENCH_ARGS") != "" {
				rep.Command = os.Getenv("SHMBUF_BENCH_ARGS")
			}
			errs := []error{err, writeReport(cmd.OutOrStdout(), rep, o.Sizes)}
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
	f.StringVar(&sizes, "sizes", "64,1KiB,16KiB,64KiB,1MiB", "comma-separated record sizes (64 with --setup, --scaling)")
	f.BoolVar(&quick, "quick", false, "64B and 64KiB only, short repetitions (under 30 s)")
	f.IntVar(&reps, "reps", defaultReps, "measured repetitions per transport and size (3 with --quick)")
	f.IntVar(&warmup, "warmup", 1, "warm-up repetitions, not counted")
	f.DurationVar(&phase, "phase", defaultPhase, "minimum length of one repetition (40ms with --quick)")
	f.StringVar(&cpus, "cpus", "", "pin the writer to the first of these `CPUS`, the reader to the second (e.g. 0,1)")
	f.BoolVar(&setup, "setup", false, "measure the cost of setting each mechanism up instead")
	f.IntVar(&setups, "setups", defaultSetups, "setups measured per mechanism with --setup (100 with --quick)")
	f.BoolVar(&scaling, "scaling", false, "measure many writers into one reader and one writer to many readers instead")
	f.StringVar(&peers, "peers", "1,2,4,8", "process counts for --scaling, e.g. 1,2,3")
	f.StringVar(&jsonPath, "json", "", "also write the results as JSON to `FILE`")
	f.StringVar(&chartPath, "chart", "", "also draw a chart to `FILE` (.svg or .png)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar or estimate on stderr")
	return cmd
}

// parsePeers parses the process counts of --scaling.
func parsePeers(list string) ([]int, error) {
	var ps []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxPeers {
			return nil, fmt.Errorf("bad process count %q: use whole numbers from 1 to %d, like 1,2,4,8", f, maxPeers)
		}
		ps = append(ps, n)
	}
	return ps, nil
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
