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

// inCore writes every message of the subject into the ring. Messages
// that never arrive are counted as missing from the gaps in each
// sending session's sequence (HeaderRecord).
func inCore(ctx context.Context, c *Config, st *stats, nc *nats.Conn, w *shmbuf.Writer) error {
	ch := make(chan *nats.Msg, inBuffer)
	sub, err := nc.ChanSubscribe(c.NATS.Subject, ch)
	if err != nil {
		return err
	}
	seen := map[uint64]uint64{} // session -> last sequence
	write := func(m *nats.Msg) error {
		if p, err := parseHeaders(m.Header); err == nil {
			next := p.seq // the number of this record
			if len(m.Data) == 0 {
				next++ // a heartbeat: p.seq was the sender's last
			}
			if last, ok := seen[p.session]; ok && next > last+1 {
				st.missing.Add(next - last - 1)
			}
			if p.seq > seen[p.session] {
				seen[p.session] = p.seq
			}
		}
		if len(m.Data) == 0 {
			return nil // a heartbeat (a ring has no empty records)
		}
		_, err := w.WriteContext(ctx, m.Data)
		switch {
		case err == nil:
			st.records.Add(1)
			st.bytes.Add(uint64(len(m.Data)))
		case errors.Is(err, shmbuf.ErrTooLarge):
			st.dropped.Add(1)
			c.logf("dropped a message of %d bytes: %v", len(m.Data), err)
			return nil
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			// Write what has arrived, then stop.
			sub.Unsubscribe()
			for {
				select {
				case m := <-ch:
					if write(m) != nil {
						return nil
					}
				default:
					return nil
				}
			}
		case m := <-ch:
			if err := write(m); err != nil {
				if ctx.Err() != nil {
					continue
				}
				return err
			}
		}
	}
}
