package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ScalingResult is one transport with several writer processes into one
// reader (fan-in) or one writer to several reader processes (fan-out).
type ScalingResult struct {
	Transport string `json:"transport"`
	Direction string `json:"direction"` // "fan-in" or "fan-out"
	// Design says how the processes share the transport.
	Design  string `json:"design"`
	Writers int    `json:"writers"`
	Readers int    `json:"readers"`
	Size    int    `json:"size"`
	// MsgsPerS is the records all readers verified together per second
	// (writers flat out): the sum of the readers' medians. Spread is
	// (max-min)/median of that sum over the repetitions.
	MsgsPerS float64 `json:"msgs_per_s"`
	Spread   float64 `json:"msgs_per_s_spread"`
	// VsOne is MsgsPerS over the same transport's 1 writer, 1 reader.
	VsOne float64 `json:"vs_one"`
	// P50 and P99 are one-way latencies, from the send time each writer
	// stamps into a record to its arrival at a reader, with the writers
	// pacing themselves (light load), over every reader.
	P50        int64 `json:"p50_ns"`
	P99        int64 `json:"p99_ns"`
	LatSamples int64 `json:"latency_samples"`
	// Processes is writers+readers; Cores the cores they may run on.
	Processes      int    `json:"processes"`
	Cores          int    `json:"cores"`
	Oversubscribed bool   `json:"oversubscribed"`
	Note           string `json:"note"`
	Failed         bool   `json:"failed,omitempty"`
	Placed
}

// scaler is a transport as the scaling measurement uses it.
type scaler struct {
	t Transport
	// perWriter: in fan-in each writer has its own channel (and the
	// reader waits on all of them); otherwise the writers share one.
	// perReader: in fan-out each reader has its own channel (and the
	// writer sends each record to all of them); otherwise the readers
	// share one, each with its own cursor.
	perWriter, perReader bool
	fanIn, fanOut        string // the designs, in words
}

// scalers are the transports of --scaling.
var scalers = []scaler{
	{t: mustLookup("ring"), fanIn: "one ring, a writer slot each", fanOut: "one ring, a reader cursor each"},
	{t: mustLookup("pipe"), perWriter: true, perReader: true,
		fanIn: "a pipe per writer, the reader polls", fanOut: "a pipe per reader, the writer writes to each"},
	{t: mustLookup("posix-mq"), perReader: true,
		fanIn: "one queue", fanOut: "a queue per reader, the writer sends to each"},
}

func scalerNames() []string {
	var ns []string
	for _, s := range scalers {
		ns = append(ns, s.t.Name())
	}
	return ns
}

func mustLookup(name string) Transport {
	t, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Directions of the scaling measurement.
const (
	fanIn  = "fan-in"
	fanOut = "fan-out"
)

// scalePace is the mean interval between records of all writers together
// in scale-latency: a light load, so the latency is the transport's and
// not a queue's.
const scalePace = 100 * time.Microsecond

// newScaleHistogram covers 1 ns to 10 s with 2 significant digits, small
// enough to travel as JSON from each reader.
func newScaleHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 10e9, 2) }

// runScaling measures each transport in both directions with each process
// count and adds the results to rep.
func runScaling(ctx context.Context, h *harness, ss []scaler, o Options, bar *progress, rep *Report) (failed []string) {
	cores := len(o.CPUs)
	if cores == 0 {
		cores = len(availableCPUs())
	}
	for _, size := range o.Sizes {
		for _, dir := range []string{fanIn, fanOut} {
			for _, sc := range ss {
				var one float64
				for _, k := range o.Peers {
					r := ScalingResult{Transport: sc.t.Name(), Direction: dir, Design: sc.fanIn,
						Writers: k, Readers: 1, Size: size, Cores: cores}
					if dir == fanOut {
						r.Design, r.Writers, r.Readers = sc.fanOut, 1, k
					}
					r.Processes = r.Writers + r.Readers
					if r.Processes > cores {
						r.Oversubscribed = true
						r.Note = fmt.Sprintf("oversubscribed: %d processes on %d cores", r.Processes, cores)
					}
					for _, mode := range []string{modeScaleThroughput, modeScaleLatency} {
						bar.describe(fmt.Sprintf("%-8s %-7s %dw→%dr %s", sc.t.Name(), dir, r.Writers, r.Readers, mode))
						runs, err := h.runScaledInPlace(ctx, sc, dir, &r, size, mode)
						bar.step()
						if ctx.Err() != nil {
							return nil
						}
						if err != nil {
							r.Failed = true
							r.Note = joinNote(r.Note, fmt.Sprintf("FAILED: %s: %v", mode, err))
							failed = append(failed, fmt.Sprintf("%s %s %d:%d %s", sc.t.Name(), dir, r.Writers, r.Readers, mode))
							break
						}
						if mode == modeScaleThroughput {
							r.addThroughput(runs)
						} else if err := r.addLatency(runs); err != nil {
							r.Failed = true
							r.Note = joinNote(r.Note, "FAILED: "+err.Error())
						}
					}
					if k == 1 && !r.Failed {
						one = r.MsgsPerS
					}
					if one > 0 {
						r.VsOne = r.MsgsPerS / one
					}
					rep.Scaling = append(rep.Scaling, r)
				}
			}
		}
	}
	return failed
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// addThroughput sums the readers' medians, and their repetitions one by
// one for the spread.
func (r *ScalingResult) addThroughput(readers []peerResult) {
	var sums []float64
	for _, rd := range readers {
		var rates []float64
		for i, ph := range rd.Phases {
			rate := 0.0
			if ph.Nanos > 0 {
				rate = float64(ph.Records) / float64(ph.Nanos) * 1e9
			}
			rates = append(rates, rate)
			if i < len(sums) {
				sums[i] += rate
			} else {
				sums = append(sums, rate)
			}
		}
		m, _ := medianSpread(rates)
		r.MsgsPerS += m
	}
	_, r.Spread = medianSpread(sums)
}

// addLatency merges the readers' histograms.
func (r *ScalingResult) addLatency(readers []peerResult) error {
	total := newScaleHistogram()
	for _, rd := range readers {
		if rd.Hist == nil {
			return errors.New("a reader reported no latencies")
		}
		total.Merge(hdrhistogram.Import(rd.Hist))
	}
	r.P50, r.P99, r.LatSamples = total.ValueAtQuantile(50), total.ValueAtQuantile(99), total.TotalCount()
	return nil
}

// runScaledInPlace runs a scaling cell for r as runInPlace runs a
// transfer cell: gated, and again when a probe around it found another
// placement; r keeps the probes around the cell kept.
func (h *harness) runScaledInPlace(ctx context.Context, sc scaler, dir string, r *ScalingResult, size int, mode string) ([]peerResult, error) {
	for try := 1; ; try++ {
		start := time.Now()
		res, probes, err := h.runScaled(ctx, sc, dir, r.Writers, r.Readers, size, mode)
		if err != nil {
			return nil, err
		}
		if !h.again(probes, try, time.Since(start)) {
			h.keep(&r.Placed, probes)
			return res, nil
		}
	}
}

// runScaled runs one scaling cell: writers writer processes and readers
// reader processes over sc's channels, and returns the readers' reports
// and, when the run gates cells, the placement probes before and after.
func (h *harness) runScaled(ctx context.Context, sc scaler, dir string, writers, readers, size int, mode string) (res []peerResult, probes []int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.set.cellTimeout())
	defer cancel()
	perPeer := (dir == fanIn && sc.perWriter) || (dir == fanOut && sc.perReader)
	nch := 1
	if perPeer {
		nch = max(writers, readers)
	}
	var chans []*Channel
	defer func() {
		for _, c := range chans {
			if rerr := c.remove(); rerr != nil && err == nil {
				err = fmt.Errorf("%s: cleanup: %w", sc.t.Name(), rerr)
			}
		}
	}()
	for range nch {
		var c *Channel
		if rt, ok := sc.t.(ringTransport); ok {
			c, err = rt.createShared(h.env, size, writers, readers)
		} else {
			c, err = sc.t.Create(h.env, size)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sc.t.Name(), err)
		}
		chans = append(chans, c)
	}
	// Peer i's channels: a writer's in fan-in with a channel per writer is
	// its own, a reader's in fan-out with a channel per reader likewise;
	// the single peer on the other side has all of them.
	mine := func(i int, single bool) []*Channel {
		if single || !perPeer {
			return chans
		}
		return chans[i : i+1]
	}
	base := peerSpec{
		Transport: sc.t.Name(), Mode: mode, Size: size, Writers: writers,
		Warmup: h.set.Warmup, Reps: h.set.Reps, Phase: h.set.Phase, MinCount: h.set.MinCount,
		PaceNs:   int64(scalePace) * int64(writers),
		Deadline: time.Now().Add(h.set.cellTimeout()),
	}
	var specs []peerSpec
	var files [][]*os.File
	add := func(role string, i int, cs []*Channel) {
		s := base
		s.Role, s.Index, s.CPUs = role, i, h.cpusFor(len(specs))
		var fs []*os.File
		for _, c := range cs {
			cs := c.Spec
			f := c.WriterFile
			if role == "reader" {
				f = c.ReaderFile
			}
			if f != nil {
				cs.FD = 3 + len(fs)
				fs = append(fs, f)
			}
			s.Channels = append(s.Channels, cs)
		}
		specs, files = append(specs, s), append(files, fs)
	}
	for i := range writers {
		add("writer", i, mine(i, dir == fanOut))
	}
	for i := range readers {
		add("reader", i, mine(i, dir == fanIn))
	}
	w, err := h.startGroup(ctx, specs, files)
	defer w.kill()
	if err != nil {
		return nil, nil, err
	}
	if probes, err = h.placeProbe(ctx, probes, true); err != nil {
		return nil, nil, err
	}
	w.sendAll("go")
	for i := range readers {
		r, err := w.result(writers + i)
		if err != nil {
			return nil, nil, err
		}
		res = append(res, r)
	}
	for i := range writers {
		w.peers[i].send("stop")
	}
	all := make([]peerResult, writers, writers+readers)
	for i := range writers {
		if all[i], err = w.result(i); err != nil {
			return nil, nil, err
		}
	}
	if err := checkPinned(w, append(all, res...)...); err != nil {
		return nil, nil, err
	}
	if err := w.wait(); err != nil {
		return nil, nil, err
	}
	probes, err = h.placeProbe(ctx, probes, false)
	return res, probes, err
}
