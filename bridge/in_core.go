package bridge

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/shmbuf/shmbuf"
)

// inBuffer is how many messages the inbound bridge takes from the
// connection ahead of the ring: past it, nats.go drops messages (a slow
// consumer), which the sequence check counts as missing.
const inBuffer = 1 << 16

// inBatch bounds how many messages the inbound bridge writes into the
// ring at once: those that arrived while it wrote the previous ones. One
// WriteBatch claims their space and wakes the ring's readers once.
const inBatch = 256

// inCore writes every message of the subject into the ring. Messages
// that never arrive are counted as missing from the gaps in each
// sending session's sequence (HeaderRecord).
func inCore(ctx context.Context, c *Config, st *stats, nc *nats.Conn, w *shmbuf.Writer) error {
	ch := make(chan *nats.Msg, inBuffer)
	sub, err := nc.ChanSubscribe(c.NATS.Subject, ch)
	if err != nil {
		return err
	}
	in := &coreSink{c: c, st: st, w: w, gaps: gaps{last: map[uint64]uint64{}},
		msgs: make([]*nats.Msg, 0, inBatch), recs: make([][]byte, 0, inBatch)}
	for {
		select {
		case <-ctx.Done():
			// Write what has arrived, then stop.
			sub.Unsubscribe()
			for {
				in.take(ch)
				if len(in.msgs) == 0 || in.write(ctx) != nil {
					return nil
				}
			}
		case m := <-ch:
			in.msgs = append(in.msgs, m)
			in.take(ch)
			if err := in.write(ctx); err != nil {
				if ctx.Err() != nil {
					continue
				}
				return err
			}
		}
	}
}

// coreSink is the inbound core NATS bridge's state.
type coreSink struct {
	c    *Config
	st   *stats
	w    *shmbuf.Writer
	gaps gaps
	// msgs is the batch in hand; recs their records (reused).
	msgs []*nats.Msg
	recs [][]byte
}

// take adds to the batch the messages that are there, without waiting.
func (s *coreSink) take(ch <-chan *nats.Msg) {
	for len(s.msgs) < cap(s.msgs) {
		select {
		case m := <-ch:
			s.msgs = append(s.msgs, m)
		default:
			return
		}
	}
}

// write counts the batch's gaps and writes its records into the ring.
func (s *coreSink) write(ctx context.Context) error {
	recs := s.recs[:0]
	for i, m := range s.msgs {
		if p, err := parseHeader(m.Header.Get(HeaderRecord)); err == nil {
			s.gaps.note(s.st, p, len(m.Data) == 0)
		}
		if len(m.Data) > 0 { // else a heartbeat (a ring has no empty records)
			recs = append(recs, m.Data)
		}
		s.msgs[i] = nil
	}
	s.msgs = s.msgs[:0]
	defer clear(s.recs[:cap(s.recs)])
	for len(recs) > 0 {
		n, err := s.w.WriteBatchContext(ctx, recs)
		var bytes uint64
		for _, r := range recs[:n] {
			bytes += uint64(len(r))
		}
		s.st.records.Add(uint64(n))
		s.st.bytes.Add(bytes)
		if err == nil {
			return nil
		}
		if !errors.Is(err, shmbuf.ErrTooLarge) {
			return err
		}
		s.st.dropped.Add(1)
		s.c.logf("dropped a message of %d bytes: %v", len(recs[n]), err)
		recs = recs[n+1:]
	}
	return nil
}

// gaps counts the messages missing from each sending session's sequence.
// The session of the last message is kept apart from the map: messages
// come in runs from one sender.
type gaps struct {
	last  map[uint64]uint64 // session -> last sequence, but cur's
	cur   uint64            // the session of the last message
	seq   uint64            // its last sequence
	known bool              // cur and seq hold a session
}

// note counts what is missing before the message p; a heartbeat's
// sequence is the sender's last, not its own.
func (g *gaps) note(st *stats, p parsedRecord, heartbeat bool) {
	if !g.known || p.session != g.cur {
		if g.known {
			g.last[g.cur] = g.seq
		}
		g.cur = p.session
		g.seq, g.known = g.last[p.session]
		delete(g.last, p.session)
	}
	next := p.seq // the number of this record
	if heartbeat {
		next++
	}
	if g.known && next > g.seq+1 {
		st.missing.Add(next - g.seq - 1)
	}
	if !g.known || p.seq > g.seq {
		g.seq = p.seq
	}
	g.known = true
}
