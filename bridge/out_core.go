package bridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
)

// connPoll is how often a bridge waiting for its connection looks again.
const connPoll = 20 * time.Millisecond

// heartbeat is how long an idle core NATS bridge waits before it sends an
// empty message carrying its last sequence number.
const heartbeat = time.Second

// flushWait bounds the last flush (or the last acknowledgements) of a
// bridge that is stopping.
const flushWait = 5 * time.Second

// outCore publishes every record of the ring to core NATS: at most once.
// A record is published once the connection is up: while it is down the
// bridge holds the record and reads no further, so a ring of policy
// block holds its writers back. What is lost in flight when a connection
// breaks is what the receivers count as missing (the sequence in
// HeaderRecord).
func outCore(ctx context.Context, c *Config, st *stats, nc *nats.Conn, src *source, o origin) error {
	session := rand.Uint64()
	var seq uint64
	// The header's value is built in hb, reused; the string nats.go
	// takes is the one allocation per message the bridge makes.
	var hb []byte
	rh := []string{""}
	msg := &nats.Msg{Subject: c.NATS.Subject, Header: nats.Header{HeaderRecord: rh}}
	always := func() bool { return true }
	for {
		rec, writer, pos, err := src.next(ctx, always, heartbeat)
		if err == errIdle {
			if seq > 0 && nc.IsConnected() {
				// Idle: tell receivers the last sequence sent, so that
				// they count a lost tail as missing too.
				hb = o.appendHeader(hb[:0], -1, 0, session, seq)
				rh[0] = string(hb)
				msg.Data = nil
				nc.PublishMsg(msg)
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return finishCore(nc)
			}
			return err
		}
		seq++
		hb = o.appendHeader(hb[:0], writer, pos, session, seq)
		rh[0] = string(hb)
		msg.Data = rec
		for {
			err := nc.PublishMsg(msg)
			if err == nil {
				st.records.Add(1)
				st.bytes.Add(uint64(len(rec)))
				break
			}
			if errors.Is(err, nats.ErrMaxPayload) {
				st.dropped.Add(1)
				c.logf("dropped a record of %d bytes: %v (the server's limit is %d)", len(rec), err, nc.MaxPayload())
				break
			}
			if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubject) {
				return err
			}
			// Disconnected: hold the record until the connection is back.
			if err := waitConnected(ctx, nc); err != nil {
				st.dropped.Add(1) // read, never sent: the receivers see the gap
				return finishCore(nc)
			}
		}
	}
}

// finishCore sends what the connection has buffered before the bridge
// exits.
func finishCore(nc *nats.Conn) error {
	if nc.IsConnected() {
		nc.FlushTimeout(flushWait)
	}
	return nil
}

// waitConnected waits until nc is connected or ctx ends.
func waitConnected(ctx context.Context, nc *nats.Conn) error {
	t := time.NewTicker(connPoll)
	defer t.Stop()
	for !nc.IsConnected() {
		if nc.IsClosed() {
			return nats.ErrConnectionClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
