package bench

import (
	"errors"
	"fmt"
	"time"
)

// writeFlatOut sends records as fast as the channel takes them until the
// coordinator says stop (or Count records are sent), then the end marker.
// Each record is one of the per-variant buffers with its sequence number
// stamped in, so the writer's own work per record is 16 bytes plus Send.
func (p *peer) writeFlatOut() (*peerResult, error) {
	bufs := p.pat.buffers(p.snd.Alloc)
	count := uint64(p.spec.Count)
	cpu0 := cpuNow()
	var seq uint64
	for seq = 1; ; seq++ {
		if p.stop.Load() || (count > 0 && seq > count) {
			break
		}
		if seq&1023 == 0 && time.Now().After(p.spec.Deadline) {
			return nil, errors.New("writer: deadline passed")
		}
		b := bufs[seq%variants]
		p.pat.stamp(b, seq)
		if err := p.snd.Send(b); err != nil {
			return nil, fmt.Errorf("send record %d: %w", seq, err)
		}
	}
	sent := seq - 1
	b := bufs[endSeq%variants]
	p.pat.stamp(b, endSeq)
	if err := p.sendNow(b); err != nil {
		return nil, fmt.Errorf("send end marker: %w", err)
	}
	return &peerResult{Sent: sent, CPUNs: cpuNow() - cpu0, CPURecords: sent}, nil
}

// readPhases receives and verifies records. The clock starts at the first
// record; each phase lasts at least Phase and MinCount records; the first
// Warmup phases are discarded. With Count set there is one phase, to the
// end marker. It reports as soon as the phases are done, then keeps
// verifying until the end marker, so the writer is never left blocked.
func (p *peer) readPhases() error {
	s := p.spec
	seqs := newSequencer(p.t.Lossy())
	every := uint64(1)
	for every*uint64(s.Size) < 16<<10 && every < 256 {
		every *= 2
	}
	phases := s.Warmup + s.Reps
	if s.Count > 0 {
		phases = 1
	}
	var res peerResult
	var n, lost0, cpu0 uint64
	var start time.Time
	phase, reported := 0, false
	for {
		rec, err := p.rcv.Recv()
		if err != nil {
			return fmt.Errorf("after %d records: %w", seqs.next-1, err)
		}
		seq, err := p.pat.check(rec)
		if err != nil {
			return err
		}
		if seq == endSeq {
			if !reported {
				if s.Count == 0 {
					return errors.New("the writer stopped before the phases were done")
				}
				res.Phases = append(res.Phases, phaseResult{Records: n, Lost: seqs.lost - lost0, Nanos: int64(time.Since(start))})
				res.CPUNs, res.CPURecords = cpuNow()-int64(cpu0), n
				p.report(res)
			}
			return nil
		}
		if err := seqs.see(seq); err != nil {
			return err
		}
		if reported {
			continue
		}
		if start.IsZero() {
			start, cpu0 = time.Now(), uint64(cpuNow())
			continue // the clock starts at this record, it is not counted
		}
		n++
		if s.Count > 0 || n%every != 0 {
			continue
		}
		now := time.Now()
		d := now.Sub(start)
		if (d < s.Phase || n < uint64(s.MinCount)) && d < 20*s.Phase {
			continue
		}
		if phase >= s.Warmup {
			res.Phases = append(res.Phases, phaseResult{Records: n, Lost: seqs.lost - lost0, Nanos: int64(d)})
			res.CPURecords += n
		}
		phase++
		if phase == s.Warmup {
			cpu0 = uint64(cpuNow())
		}
		if phase == phases {
			res.CPUNs = cpuNow() - int64(cpu0)
			p.report(res)
			reported = true
			continue
		}
		start, n, lost0 = now, 0, seqs.lost
	}
}
