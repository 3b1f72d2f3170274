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
		transports, sizes, jsonPath, chartPath, cpus, peers, place string
		quick, quiet, setup, scaling                               bool
		reps, warmup, setups                                       int
		phase                                                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure shmbuf against pipes, sockets and queues on this machine",
		Long: `bench moves fixed-size records from a writer process to a reader process
over each transport and prints a comparison table.

` + wrap("Transports: "+strings.Join(Names(), ", ")+".") + `

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

On a virtual machine the host moves the vCPUs, and how fast a cache line
crosses between the peers' two cores changes with it, several-fold, every
second or so; the ring's figures follow. So bench measures each transfer
only while a probe, before and after it, finds that round trip within a
band: by default the host's usual placement (the most frequent round trip
of 40 probes over 4 s, ±1.6×); --placement 90ns-350ns gives the band, so
that runs at different times compare; --placement any measures wherever
the host runs the peers. It waits up to 3 s before a cell and measures a
cell at most 3 times; the table says how long it waited and marks any row
measured outside the band. Unpinned peers on more than 2 cores are not
gated (--cpus pins them).

` + wrap("--setup measures instead what it costs to set each mechanism up, carry "+
			"one message and remove it again ("+strings.Join(mechanismNames(), ", ")+
			"), as the median and p99 of --setups setups, both ends in one process, "+
			"with a 64-byte message unless --sizes says otherwise.") + `

` + wrap("--scaling measures instead many processes: 1 writer into 1 reader, then "+
			"more writer processes into one reader, and one writer to more reader "+
			"processes, with the counts of --peers, for "+strings.Join(scalerNames(), ", ")+
			", with 64-byte records unless --sizes says otherwise. Records/s is what all "+
			"readers verified together (every byte, and each writer's order); latency is "+
			"one-way from the send time stamped in each record at a light load. More "+
			"processes than cores is noted.") + `

A full run (5 sizes, every transport) takes about four minutes on a
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
			o := Options{Warmup: warmup, Reps: defaultReps, Phase: defaultPhase, MinCount: 100, Placement: place,
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
	f.StringVar(&sizes, "sizes", "", "record `SIZES` (default 64,1KiB,16KiB,64KiB,1MiB)")
	f.BoolVar(&quick, "quick", false, "64B and 64KiB, 3 repetitions of 40ms (under 30 s)")
	f.IntVar(&reps, "reps", defaultReps, "measured repetitions (--quick: 3)")
	f.IntVar(&warmup, "warmup", 1, "warm-up repetitions, not counted")
	f.DurationVar(&phase, "phase", defaultPhase, "each repetition lasts at least `TIME`")
	f.StringVar(&cpus, "cpus", "", "pin writer, reader to these `CPUS`, e.g. 0,1")
	f.StringVar(&place, "placement", PlacementUsual, "measure transfers in the `usual` placement of the peers' cores, any, or a band of round trips like 90ns-350ns")
	f.BoolVar(&setup, "setup", false, "measure what setting up each mechanism costs")
	f.IntVar(&setups, "setups", defaultSetups, "setups per mechanism (--quick: 100)")
	f.BoolVar(&scaling, "scaling", false, "measure N writers to 1 reader, 1 writer to N")
	f.StringVar(&peers, "peers", "1,2,4,8", "process `COUNTS` N for --scaling")
	f.StringVar(&jsonPath, "json", "", "also write the results as JSON to `FILE`")
	f.StringVar(&chartPath, "chart", "", "also draw a chart to `FILE` (.svg or .png)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar or estimate on stderr")
	return cmd
}

// wrap breaks a paragraph of help into lines of at most 72 columns.
func wrap(s string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len(w) > 72 {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
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
