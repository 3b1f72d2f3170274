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

// readPhases receives and verifies records, timed in phases (phaser). It
// reports as soon as the phases are done, then keeps verifying until the
// end marker, so the writer is never left blocked.
func (p *peer) readPhases() error {
	seqs := newSequencer(p.t.Lossy())
	ph := newPhaser(p.spec, everyFor(p.spec.Size))
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
			if !ph.done {
				if p.spec.Count == 0 {
					return errors.New("the writer stopped before the phases were done")
				}
				ph.end(seqs.lost)
				p.report(ph.res)
			}
			return nil
		}
		if err := seqs.see(seq); err != nil {
			return err
		}
		if ph.count(seqs.lost) {
			p.report(ph.res)
		}
	}
}
