package bench

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// latencyResult is the pinger's report: percentiles of the one-way
// latency (round trip / 2) over all measured phases, and the median of
// each phase for the spread.
type latencyResult struct {
	P50     int64   `json:"p50_ns"`
	P99     int64   `json:"p99_ns"`
	P999    int64   `json:"p999_ns"`
	Samples int64   `json:"samples"`
	RepP50  []int64 `json:"rep_p50_ns"`
}

// newHistogram covers 1 ns to 60 s with 3 significant digits.
func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60e9, 3) }

// ping sends a record, waits for its echo, and records half the round
// trip. The echo is compared byte for byte with what was sent, after the
// clock is read, so verifying does not count as latency.
func (p *peer) ping() (*peerResult, error) {
	s := p.spec
	bufs := p.pat.buffers(p.snd.Alloc)
	total := newHistogram()
	res := &latencyResult{}
	phases := s.Warmup + s.Reps
	if s.Count > 0 {
		phases = 1
	}
	seq := uint64(1)
	cpu0 := cpuNow()
	var measured uint64
	for phase := 0; phase < phases; phase++ {
		h := newHistogram()
		start := time.Now()
		for n := 1; ; n++ {
			b := bufs[seq%variants]
			p.pat.stamp(b, seq)
			t0 := time.Now()
			if err := p.sendNow(b); err != nil {
				return nil, fmt.Errorf("send record %d: %w", seq, err)
			}
			echo, err := p.rcv.Recv()
			t1 := time.Now()
			if err != nil {
				return nil, fmt.Errorf("echo of record %d: %w", seq, err)
			}
			if !bytes.Equal(echo, b) {
				if _, cerr := p.pat.check(echo); cerr != nil {
					return nil, fmt.Errorf("echo of record %d: %w", seq, cerr)
				}
				return nil, fmt.Errorf("echo of record %d differs from it", seq)
			}
			h.RecordValue(max(1, int64(t1.Sub(t0))/2))
			seq++
			if s.Count > 0 {
				if n >= s.Count {
					break
				}
				continue
			}
			d := t1.Sub(start)
			if (d >= s.Phase && n >= s.MinCount) || d >= 20*s.Phase {
				break
			}
			if t1.After(s.Deadline) {
				return nil, errors.New("deadline passed")
			}
		}
		if phase < s.Warmup {
			cpu0 = cpuNow()
			continue
		}
		total.Merge(h)
		measured += uint64(h.TotalCount())
		res.RepP50 = append(res.RepP50, h.ValueAtQuantile(50))
	}
	res.P50, res.P99, res.P999 = total.ValueAtQuantile(50), total.ValueAtQuantile(99), total.ValueAtQuantile(99.9)
	res.Samples = total.TotalCount()
	cpu := cpuNow() - cpu0
	b := bufs[endSeq%variants]
	p.pat.stamp(b, endSeq)
	if err := p.sendNow(b); err != nil {
		return nil, fmt.Errorf("send end marker: %w", err)
	}
	return &peerResult{Latency: res, CPUNs: cpu, CPURecords: measured}, nil
}

// pong verifies every record and sends it straight back, until the end
// marker. In lockstep nothing may be lost, even on a latest-value
// transport, so the sequence check is strict.
func (p *peer) pong() (*peerResult, error) {
	seqs := newSequencer(false)
	cpu0 := cpuNow()
	for {
		rec, err := p.rcv.Recv()
		if err != nil {
			return nil, fmt.Errorf("after %d records: %w", seqs.next-1, err)
		}
		seq, err := p.pat.check(rec)
		if err != nil {
			return nil, err
		}
		if seq == endSeq {
			return &peerResult{CPUNs: cpuNow() - cpu0, CPURecords: seqs.next - 1}, nil
		}
		if err := seqs.see(seq); err != nil {
			return nil, err
		}
		if err := p.sendNow(rec); err != nil {
			return nil, fmt.Errorf("echo record %d: %w", seq, err)
		}
	}
}
