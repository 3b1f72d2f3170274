package bench

import (
	"fmt"
	"slices"
	"strings"
)

// Result is one transport at one record size: the row of the table and
// the object in the JSON output.
type Result struct {
	Transport string `json:"transport"`
	Size      int    `json:"size"`
	// MsgsPerS and BytesPerS are the median over the repetitions of the
	// records the reader received and verified per second, writer flat out.
	MsgsPerS  float64 `json:"msgs_per_s"`
	BytesPerS float64 `json:"bytes_per_s"`
	// P50, P99 and P999 are one-way latencies (ping-pong round trip / 2).
	P50  int64 `json:"p50_ns"`
	P99  int64 `json:"p99_ns"`
	P999 int64 `json:"p999_ns"`
	// CPUNsPerMsg is user+system time per record, writer plus reader.
	CPUNsPerMsg float64 `json:"cpu_ns_per_msg"`
	Note        string  `json:"note"`

	Kind string `json:"kind"` // "kernel" or "software"
	Sync string `json:"sync"`
	// Spread is (max-min)/median of the repetitions' throughput; LatSpread
	// the same for the repetitions' p50.
	Spread    float64 `json:"msgs_per_s_spread"`
	LatSpread float64 `json:"p50_spread"`
	Reps      int     `json:"reps"`
	// RepMsgsPerS and RepP50 are each repetition's figures, in order, so
	// that runs can be compared repetition by repetition.
	RepMsgsPerS []float64 `json:"rep_msgs_per_s"`
	RepP50      []int64   `json:"rep_p50_ns"`
	LatSamples  int64     `json:"latency_samples"`
	// LostPct is the share of published values a latest-value reader never
	// saw (allowed by those transports' semantics).
	LostPct     float64 `json:"lost_pct,omitempty"`
	WriterCPUNs float64 `json:"writer_cpu_ns_per_msg"`
	ReaderCPUNs float64 `json:"reader_cpu_ns_per_msg"`
	// NA is set when the transport cannot carry records of this size;
	// Failed when the measurement failed (the note says why).
	NA     bool `json:"na,omitempty"`
	Failed bool `json:"failed,omitempty"`
	Placed
}

// Placed is what a row keeps of the placement probes around its cells
// when the run gated them (Report.Placement): PlacementNs are the round
// trips before and after each cell kept (a transfer's throughput cells,
// then its latency cell), OutsidePlacement is set when one of them lay
// outside the band.
type Placed struct {
	PlacementNs      []int64 `json:"placement_ns,omitempty"`
	OutsidePlacement bool    `json:"outside_placement,omitempty"`
}

// note says why the row is marked, or nothing: "measured outside the
// placement band (probes: 612ns, 55ns of 12)".
func (p Placed) note(place *PlacementReport) string {
	if !p.OutsidePlacement || place == nil {
		return ""
	}
	var out []string
	for _, ns := range p.PlacementNs {
		if !place.in(ns) {
			out = append(out, dur(ns))
		}
	}
	return fmt.Sprintf("measured outside the placement band (probes: %s of %d)", strings.Join(out, ", "), len(p.PlacementNs))
}

func newResult(t Transport, size int) Result {
	return Result{Transport: t.Name(), Size: size, Kind: kindName(t), Sync: t.Sync()}
}

// addThroughput fills in the throughput and CPU figures from a cell.
func (r *Result) addThroughput(run cellRun) {
	var rates []float64
	var recs, lost uint64
	for _, p := range run.reader.Phases {
		if p.Nanos > 0 {
			rates = append(rates, float64(p.Records)/float64(p.Nanos)*1e9)
		}
		recs += p.Records
		lost += p.Lost
	}
	r.Reps = len(rates)
	r.RepMsgsPerS = rates
	r.MsgsPerS, r.Spread = medianSpread(rates)
	r.BytesPerS = r.MsgsPerS * float64(r.Size)
	if recs+lost > 0 && lost > 0 {
		r.LostPct = 100 * float64(lost) / float64(recs+lost)
		r.Note = fmt.Sprintf("latest value: the reader saw %.1f%% of the values published, %.1f%% were overwritten before it looked", 100-r.LostPct, r.LostPct)
	}
	if n := run.writer.CPURecords; n > 0 {
		r.WriterCPUNs = float64(run.writer.CPUNs) / float64(n)
	}
	if n := run.reader.CPURecords; n > 0 {
		r.ReaderCPUNs = float64(run.reader.CPUNs) / float64(n)
	}
	r.CPUNsPerMsg = r.WriterCPUNs + r.ReaderCPUNs
}

// addLatency fills in the latency figures from a cell.
func (r *Result) addLatency(run cellRun) {
	l := run.writer.Latency
	if l == nil {
		return
	}
	r.P50, r.P99, r.P999, r.LatSamples = l.P50, l.P99, l.P999, l.Samples
	r.RepP50 = l.RepP50
	p50s := make([]float64, len(l.RepP50))
	for i, v := range l.RepP50 {
		p50s[i] = float64(v)
	}
	_, r.LatSpread = medianSpread(p50s)
}

func (r *Result) fail(err error) {
	r.Failed = true
	if r.Note != "" {
		r.Note += "; "
	}
	r.Note += "FAILED: " + err.Error()
}

// medianSpread returns the median of xs and (max-min)/median.
func medianSpread(xs []float64) (median, spread float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	if median > 0 {
		spread = (s[n-1] - s[0]) / median
	}
	return median, spread
}
