package bench

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// writeTable prints the comparison: one block per record size, one row per
// transport, the last column throughput relative to pipe at that size.
// Notes (losses, n/a reasons, failures) follow as numbered footnotes.
func writeTable(w io.Writer, m Machine, results []Result, sizes []int) error {
	fmt.Fprintf(w, "shmbuf bench on %s\n", m)
	fmt.Fprintf(w, "throughput: writer flat out, reader verifies every byte (median of the repetitions, ± half the range)\n")
	fmt.Fprintf(w, "latency: one-way = ping-pong round trip / 2; CPU: user+system of writer+reader per record\n\n")
	var notes []string
	// The table goes through a buffer so that the padding tabwriter leaves
	// at the end of each line can be trimmed.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
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
			if r.Note != "" {
				notes = append(notes, fmt.Sprintf("[%d] %s %s: %s", len(notes)+1, r.Transport, sizeLabel(r.Size), r.Note))
				name = fmt.Sprintf("%s [%d]", name, len(notes))
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
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
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
