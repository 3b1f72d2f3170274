package bench

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// writeReport prints every measurement of the run, each as a table with
// numbered notes, then the conditions: load average and pinning.
func writeReport(w io.Writer, rep *Report, sizes []int) error {
	fmt.Fprintf(w, "shmbuf bench on %s\n", rep.Machine)
	var notes notes
	var buf bytes.Buffer
	if len(rep.Results) > 0 {
		writeTransferTable(&buf, rep.Results, rep.Placement, sizes, &notes)
	}
	if len(rep.Setup) > 0 {
		writeSetupTable(&buf, rep.Setup, &notes)
	}
	if len(rep.Scaling) > 0 {
		writeScalingTable(&buf, rep.Scaling, rep.Placement, &notes)
	}
	for line := range strings.Lines(strings.TrimRight(buf.String(), " \n")) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	s := rep.Settings
	fmt.Fprintf(w, "\nload average (1 min): %.2f before, %.2f after the run", rep.Load1Before, rep.Load1After)
	if len(s.CPUs) > 0 {
		fmt.Fprintf(w, "; peers pinned to CPUs %s (writer first, round robin)", formatCPUs(s.CPUs))
	}
	fmt.Fprintln(w)
	if len(rep.Results) > 0 || len(rep.Scaling) > 0 {
		writePlacement(w, rep)
	}
	if len(rep.Results) > 0 || len(rep.Scaling) > 0 {
		fmt.Fprintf(w, "repetitions: %d measured after %d warm-up, each at least %s and %d records\n",
			s.Reps, s.Warmup, time.Duration(s.PhaseNs), s.MinCount)
	}
	if len(rep.Setup) > 0 {
		fmt.Fprintf(w, "setups: %d measured per mechanism after %d warm-up ones\n", s.Setups, 10*s.Warmup)
	}
	return nil
}

// writePlacement says under the transfer table where its cells ran.
func writePlacement(w io.Writer, rep *Report) {
	p := rep.Placement
	if p == nil {
		fmt.Fprintf(w, "placement: not gated (%s)\n", rep.NotGated)
		return
	}
	band := fmt.Sprintf("%s to %s", dur(p.BandNs[0]), dur(p.BandNs[1]))
	if p.Given {
		band += ", as given"
	} else {
		band += fmt.Sprintf(", the usual: %d of %d probes near %s", p.Usual, len(p.CalibrationNs), dur(p.UsualNs))
	}
	fmt.Fprintf(w, "placement: cells measured while a cache line's round trip between CPUs %d and %d was %s;\n", p.CPUs[0], p.CPUs[1], band)
	fmt.Fprintf(w, "  waited %s for it, measured %d cells again, kept %d outside it\n",
		time.Duration(p.WaitedNs).Round(100*time.Millisecond), p.Repeated, p.Outside)
}

// notes are a report's numbered footnotes.
type notes []string

// add records a note about what and returns its marker: " [3]".
func (n *notes) add(what, note string) string {
	*n = append(*n, fmt.Sprintf("[%d] %s: %s", len(*n)+1, what, note))
	return fmt.Sprintf(" [%d]", len(*n))
}

// newTable returns a tabwriter whose columns are two spaces apart; the
// caller trims the padding it leaves at line ends.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// writeTransferTable prints the comparison: one block per record size,
// one row per transport, the last column throughput relative to pipe at
// that size. Notes (losses, n/a reasons, failures) become footnotes.
func writeTransferTable(w io.Writer, results []Result, place *PlacementReport, sizes []int, notes *notes) {
	fmt.Fprintf(w, "throughput: writer flat out, reader verifies every byte (median of the repetitions, ± half the range)\n")
	fmt.Fprintf(w, "latency: one-way = ping-pong round trip / 2; CPU: user+system of writer+reader per record\n\n")
	tw := newTable(w)
	for _, size := range sizes {
		var pipe float64
		for _, r := range results {
			if r.Size == size && r.Transport == "pipe" && !r.NA && !r.Failed {
				pipe = r.MsgsPerS
			}
		}
		fmt.Fprintf(tw, "%s records\tkind\tsynchronisation\trecords/s\tbytes/s\t±\tp50\tp99\tp99.9\tCPU/record\tvs pipe\t\n", sizeLabel(size))
		for _, r := range results {
			if r.Size != size {
				continue
			}
			name := r.Transport
			note := r.Note
			if pn := r.note(place); pn != "" {
				note = strings.TrimPrefix(note+"; "+pn, "; ")
			}
			if note != "" {
				name += notes.add(r.Transport+" "+sizeLabel(r.Size), note)
			}
			if r.NA || r.Failed {
				what := "n/a"
				if r.Failed {
					what = "FAILED"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\n", name, r.Kind, r.Sync, what)
				continue
			}
			rel := "-"
			if pipe > 0 {
				rel = fmt.Sprintf("%.1f×", r.MsgsPerS/pipe)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				name, r.Kind, r.Sync, rate(r.MsgsPerS), byteRate(r.BytesPerS), pct(r.Spread/2),
				dur(r.P50), dur(r.P99), dur(r.P999), dur(int64(r.CPUNsPerMsg)), rel)
		}
		fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\t\t\n")
	}
	tw.Flush()
}

// rate renders records per second: 812k/s, 12.4M/s.
func rate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.3gM/s", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.3gk/s", x/1e3)
	}
	return fmt.Sprintf("%.3g/s", x)
}

// byteRate renders bytes per second in decimal units: 1.2 GB/s.
func byteRate(x float64) string {
	units := []string{"B/s", "kB/s", "MB/s", "GB/s", "TB/s"}
	i := 0
	for x >= 1000 && i < len(units)-1 {
		x /= 1000
		i++
	}
	return fmt.Sprintf("%.3g %s", x, units[i])
}

func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

// dur renders nanoseconds with three significant digits: 812ns, 1.23µs.
func dur(ns int64) string {
	if ns <= 0 {
		return "-"
	}
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return strings.TrimSuffix(fmt.Sprintf("%.3g", float64(ns)/1e3), ".0") + "µs"
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// writeSetupTable prints the cost of one setup per mechanism.
func writeSetupTable(w io.Writer, rs []SetupResult, notes *notes) {
	fmt.Fprintf(w, "\nsetup: create, attach the other end, carry the first message (%s), remove; both ends in one process\n\n", sizeLabel(rs[0].Size))
	tw := newTable(w)
	fmt.Fprintf(tw, "mechanism\tkind\tsetups\tp50\tp99\tsteps\t\n")
	for _, r := range rs {
		name := r.Mechanism
		if r.Note != "" {
			name += notes.add("setup "+r.Mechanism, r.Note)
		}
		if r.Failed {
			fmt.Fprintf(tw, "%s\t%s\tFAILED\t\t\t%s\t\n", name, r.Kind, r.Steps)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t\n", name, r.Kind, r.Setups, dur(r.P50), dur(r.P99), r.Steps)
	}
	tw.Flush()
}

// writeScalingTable prints the scaling measurement, fan-in then fan-out.
func writeScalingTable(w io.Writer, rs []ScalingResult, place *PlacementReport, notes *notes) {
	fmt.Fprintf(w, "\nmany processes: records/s is what all readers verified together (writers flat out, median of the repetitions, ± half the range);\n")
	fmt.Fprintf(w, "latency is one-way from the send time stamped in each record, the writers pacing themselves at %d records/s together\n", time.Second/scalePace)
	tw := newTable(w)
	last := ""
	for _, r := range rs {
		if head := r.Direction + " " + sizeLabel(r.Size); head != last {
			last = head
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\t\n")
			fmt.Fprintf(tw, "%s\twriters\treaders\trecords/s\t±\tvs 1:1\tp50\tp99\tdesign\tnote\t\n", head)
		}
		name, note := r.Transport, ""
		if pn := r.note(place); pn != "" {
			name += notes.add(fmt.Sprintf("%s %s %d:%d", r.Transport, r.Direction, r.Writers, r.Readers), pn)
		}
		if r.Failed {
			name += notes.add(fmt.Sprintf("%s %s %d:%d", r.Transport, r.Direction, r.Writers, r.Readers), r.Note)
			fmt.Fprintf(tw, "%s\t%d\t%d\tFAILED\t\t\t\t\t%s\t\t\n", name, r.Writers, r.Readers, r.Design)
			continue
		}
		if r.Oversubscribed {
			note = fmt.Sprintf("oversubscribed (%d processes, %d cores)", r.Processes, r.Cores)
		}
		vs := "-"
		if r.VsOne > 0 {
			vs = fmt.Sprintf("%.2f×", r.VsOne)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, r.Writers, r.Readers,
			rate(r.MsgsPerS), pct(r.Spread/2), vs, dur(r.P50), dur(r.P99), r.Design, note)
	}
	tw.Flush()
}
