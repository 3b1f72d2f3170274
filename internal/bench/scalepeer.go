package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// openScaled opens a scaling peer's ends: a writer a sender on each of its
// channels, a reader one receiver over all of its channels (several only
// for a pipe per writer, read with poll).
func (p *peer) openScaled() error {
	s := p.spec
	if len(s.Channels) == 0 {
		return errors.New("no channel")
	}
	if s.Role == "writer" {
		for _, ch := range s.Channels {
			snd, err := p.t.Sender(ch, s.Size, s.Deadline)
			if err != nil {
				return err
			}
			p.snds = append(p.snds, snd)
		}
		return nil
	}
	if len(s.Channels) == 1 {
		var err error
		p.rcv, err = p.t.Receiver(s.Channels[0], s.Size, s.Deadline)
		return err
	}
	var fds []int
	for _, ch := range s.Channels {
		fd, err := inheritedFD(ch)
		if err != nil {
			return fmt.Errorf("reading several channels needs inherited descriptors: %w", err)
		}
		fds = append(fds, fd)
	}
	p.rcv = newPollReceiver(fds, s.Size, s.Deadline)
	return nil
}

// writeScaled sends records numbered for this writer to every channel
// until the coordinator says stop, then its end marker. In
// scale-throughput it runs flat out; in scale-latency it sleeps a random
// 0.5 to 1.5 times PaceNs before each record and stamps the send time in.
func (p *peer) writeScaled() (*peerResult, error) {
	s := p.spec
	bufs := p.pat.buffers(p.snds[0].Alloc)
	base := uint64(s.Index) << writerShift
	paced := s.Mode == modeScaleLatency
	cpu0 := cpuNow()
	var n uint64
	for n = 1; !p.stop.Load(); n++ {
		if n >= scaledEnd {
			return nil, errors.New("writer: sequence numbers exhausted")
		}
		if n&1023 == 0 && time.Now().After(s.Deadline) {
			return nil, errors.New("writer: deadline passed")
		}
		b := bufs[n%variants]
		p.pat.stamp(b, base|n)
		if paced {
			time.Sleep(time.Duration(s.PaceNs/2 + rand.Int64N(s.PaceNs+1)))
			stampTime(b, monoNow())
		}
		if err := p.sendAll(b, paced); err != nil {
			return nil, fmt.Errorf("send record %d: %w", n, err)
		}
	}
	sent := n - 1
	b := bufs[scaledEnd%variants]
	p.pat.stamp(b, base|scaledEnd)
	if err := p.sendAll(b, true); err != nil {
		return nil, fmt.Errorf("send end marker: %w", err)
	}
	return &peerResult{Sent: sent, CPUNs: cpuNow() - cpu0, CPURecords: sent}, nil
}

// sendAll sends rec on every channel, flushing batching senders when now.
func (p *peer) sendAll(rec []byte, now bool) error {
	for _, snd := range p.snds {
		if err := snd.Send(rec); err != nil {
			return err
		}
		if now {
			if err := flush(snd); err != nil {
				return err
			}
		}
	}
	return nil
}

// readScaled verifies every byte of every record and each writer's order,
// timed in phases; in scale-latency it also records each record's one-way
// latency once the warm-up is over. It reports when the phases are done
// and keeps verifying until every writer's end marker has arrived.
func (p *peer) readScaled() error {
	s := p.spec
	if s.Writers < 1 || s.Writers >= 1<<(64-writerShift) {
		return fmt.Errorf("bad writer count %d", s.Writers)
	}
	seqs := make([]sequencer, s.Writers)
	for i := range seqs {
		seqs[i] = newSequencer(false)
	}
	latency := s.Mode == modeScaleLatency
	every := everyFor(s.Size)
	var hist = newScaleHistogram()
	if latency {
		every = 1 // records are few: look at the clock at each
	}
	ph := newPhaser(s, every)
	ends, verified := 0, uint64(0)
	for {
		rec, err := p.rcv.Recv()
		var now int64
		if latency {
			now = monoNow()
		}
		if err != nil {
			return fmt.Errorf("after %d records: %w", verified, err)
		}
		var seq uint64
		var sent int64
		if latency {
			seq, sent, err = p.pat.checkStamped(rec)
		} else {
			seq, err = p.pat.check(rec)
		}
		if err != nil {
			return err
		}
		w, n := seq>>writerShift, seq&scaledEnd
		if w >= uint64(len(seqs)) {
			return fmt.Errorf("record %d from writer %d; there are %d", n, w, len(seqs))
		}
		if n == scaledEnd {
			if ends++; ends < len(seqs) {
				continue
			}
			if !ph.done {
				if s.Count == 0 {
					return errors.New("the writers stopped before the phases were done")
				}
				ph.end(0)
				if latency {
					ph.res.Hist = hist.Export()
				}
				p.report(ph.res)
			}
			return nil
		}
		if err := seqs[w].see(n); err != nil {
			return fmt.Errorf("writer %d: %w", w, err)
		}
		verified++
		if latency && ph.measuring() && !ph.done {
			hist.RecordValue(max(1, now-sent))
		}
		if ph.count(0) {
			if latency {
				ph.res.Hist = hist.Export()
			}
			p.report(ph.res)
		}
	}
}
