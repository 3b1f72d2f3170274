package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ackTimeout is how long an asynchronous publish waits for JetStream's
// acknowledgement before it counts as failed and is sent again (the
// duplicate window drops it if the first one was stored after all).
const ackTimeout = 2 * time.Second

// idleWait is how long the outbound bridge waits for a record while
// messages are in flight before it looks at their acknowledgements.
const idleWait = 5 * time.Millisecond

// maxScan bounds how many messages a restarting bridge reads back from
// the stream to find the last one its ring published.
const maxScan = 100000

// outJS publishes every record of the ring to a JetStream stream, exactly
// once (see the package documentation).
type outJS struct {
	c      *Config
	st     *stats
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	src    *source
	o      origin
	sp     *spool

	session, seq uint64
	hb           []byte // where header values are built
	// queue holds the messages in flight, oldest first; bytes is their
	// spool space.
	queue []*inflight
	bytes int64
	// epoch is the connection's reconnect count when the last message
	// went out: a message must not go out on a new connection while one
	// sent on the old one may still be lost, or it could be stored
	// before the lost one's re-send.
	epoch uint64
}

// inflight is one message published and not yet acknowledged.
type inflight struct {
	msg   *nats.Msg
	fut   jetstream.PubAckFuture
	pos   uint64
	size  int64 // its spool space
	state int   // pending, stored or failed
	err   error // why it failed
}

func newOutJS(ctx context.Context, c *Config, st *stats, nc *nats.Conn, src *source, o origin) (*outJS, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(c.maxPending()+1),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, err
	}
	stream, err := ensureStream(ctx, c, js)
	if err != nil {
		return nil, err
	}
	return &outJS{c: c, st: st, nc: nc, js: js, stream: stream, src: src, o: o, session: rand.Uint64()}, nil
}

// run publishes until ctx ends.
func (b *outJS) run(ctx context.Context) (err error) {
	addr := b.c.State
	if addr == "" {
		if addr, err = StateAddr(b.c.Ring, "out-"+b.c.Stream); err != nil {
			return err
		}
	}
	if b.sp, err = openSpool(addr, b.src.r.MaxRecord()); err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, b.sp.close(err == nil && len(b.queue) == 0))
	}()
	resume, err := b.resume(ctx)
	if err != nil {
		return err
	}
	if err := b.sp.begin(); err != nil {
		return err
	}
	b.epoch = b.nc.Stats().Reconnects
	busy := func() bool { return len(b.queue) > 0 }
	for {
		rec, writer, pos, err := b.src.next(ctx, busy, idleWait)
		switch {
		case err == errIdle:
			if err := b.settle(ctx, false); err != nil {
				return b.stop(err)
			}
			continue
		case err != nil:
			return b.stop(err)
		case pos <= resume && resume != 0:
			b.st.duplicates.Add(1) // the stream has it already
			continue
		}
		if err := b.send(ctx, rec, writer, pos); err != nil {
			return b.stop(err)
		}
		if err := b.settle(ctx, false); err != nil {
			return b.stop(err)
		}
	}
}

// stop ends the run: a stopped bridge (ctx ended) waits a while for the
// acknowledgements of what is in flight, so that it leaves an empty spool
// behind; whatever is still in flight stays spooled for the next start.
func (b *outJS) stop(err error) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	for len(b.queue) > 0 && ctx.Err() == nil {
		if err := b.settle(ctx, true); err != nil {
			break
		}
	}
	return nil
}

// resume republishes what a bridge that died left in the spool and
// returns the position up to which the ring's records are in the stream
// (0: none known).
func (b *outJS) resume(ctx context.Context) (uint64, error) {
	last := map[uint64]uint64{}
	lastFor := func(id uint64) (uint64, error) {
		if p, ok := last[id]; ok {
			return p, nil
		}
		p, err := b.lastPublished(ctx, id)
		last[id] = p
		return p, err
	}
	resume, err := lastFor(b.o.id)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		e, ok, err := b.sp.leftover()
		if err != nil || !ok {
			if n > 0 {
				b.c.logf("resumed: %d records re-sent from the spool, the ring's records from position %d on", n, resume+1)
			}
			return resume, err
		}
		p, err := lastFor(e.id)
		if err != nil {
			return 0, err
		}
		if e.id == b.o.id && e.pos > resume {
			resume = e.pos
		}
		if e.pos <= p && p != 0 {
			b.st.duplicates.Add(1)
			continue
		}
		o := b.o
		if e.id != b.o.id {
			// The ring was created again since: these records are the
			// old ring's.
			o = newOriginID(b.o.host, ringIdentity{addr: b.o.ring.addr, created: e.created}, e.id)
		}
		msg := b.message(&o, e.writer, e.pos, append([]byte(nil), e.data...))
		for {
			_, err := b.js.PublishMsg(ctx, msg)
			if err == nil {
				break
			}
			if ctx.Err() != nil || fatalPublish(err) {
				return 0, err
			}
			if err := waitConnected(ctx, b.nc); err != nil {
				return 0, err
			}
		}
		n++
		b.st.resent.Add(1)
		b.st.records.Add(1)
		b.st.bytes.Add(uint64(len(e.data)))
	}
}

// lastPublished returns the position of the last record of origin id in
// the stream, 0 if there is none: the last message of the subject when
// it is this origin's (one bridge per subject, the usual case), else
// reading back through the stream.
func (b *outJS) lastPublished(ctx context.Context, id uint64) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	posOf := func(m *jetstream.RawStreamMsg) (uint64, bool) {
		p, err := parseHeader(m.Header.Get(HeaderRecord))
		return p.pos, err == nil && p.originID == id
	}
	m, err := b.stream.GetLastMsgForSubject(ctx, b.c.NATS.Subject)
	if err == nil {
		if p, ok := posOf(m); ok {
			return p, nil
		}
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, err
	}
	scanned := 0
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
		if scanned++; scanned > maxScan {
			b.c.logf("no message of this ring among the stream's last %d; relying on the duplicate window", maxScan)
			return 0, nil
		}
		m, err := b.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if p, ok := posOf(m); ok {
			return p, nil
		}
	}
	return 0, nil
}

// message builds the message of a record. Each message in flight keeps
// its own, since nats.go may send it again by itself.
func (b *outJS) message(o *origin, writer int, pos uint64, data []byte) *nats.Msg {
	b.seq++
	b.hb = o.appendHeader(b.hb[:0], writer, pos, b.session, b.seq)
	h := string(b.hb)
	b.hb = o.appendMsgID(b.hb[:0], pos)
	return &nats.Msg{Subject: b.c.NATS.Subject, Data: data, Header: nats.Header{
		HeaderRecord:          {h},
		jetstream.MsgIDHeader: {string(b.hb)},
	}}
}

// send spools a record and publishes it.
func (b *outJS) send(ctx context.Context, rec []byte, writer int, pos uint64) error {
	size := recordSize(spoolHdr + len(rec))
	for len(b.queue) > 0 && (len(b.queue) >= b.c.maxPending() || b.bytes+size > b.sp.window) {
		if err := b.settle(ctx, true); err != nil {
			return err
		}
	}
	if err := b.sp.add(spoolEntry{id: b.o.id, pos: pos, created: b.o.ring.created, writer: writer, data: rec}); err != nil {
		return err
	}
	f := &inflight{msg: b.message(&b.o, writer, pos, append([]byte(nil), rec...)), pos: pos, size: size}
	if err := b.publish(ctx, f); err != nil {
		return err
	}
	b.queue = append(b.queue, f)
	b.bytes += size
	return nil
}

// publish sends f, the newest message, waiting for the connection; after
// a reconnection it first settles every message sent on the old one.
func (b *outJS) publish(ctx context.Context, f *inflight) error {
	for {
		if b.nc.Stats().Reconnects != b.epoch {
			if err := b.resend(ctx); err != nil { // it sets epoch
				return err
			}
		}
		fut, err := b.js.PublishMsgAsync(f.msg)
		if err == nil {
			f.fut = fut
			return nil
		}
		if ctx.Err() != nil || fatalPublish(err) {
			return err
		}
		if err := waitConnected(ctx, b.nc); err != nil {
			return err
		}
	}
}

// Answers to a message in flight.
const (
	pending = iota
	stored
	failed
)

// check looks for f's answer, waiting for it with block. An answer
// already there is always seen (a select among ready cases picks at
// random, so a stored answer is looked for first, alone), and Err's
// channel is made only for a message not yet acknowledged.
func (f *inflight) check(ctx context.Context, block bool) error {
	if f.state != pending {
		return nil
	}
	select {
	case <-f.fut.Ok():
		f.state = stored
		return nil
	default:
	}
	if block {
		select {
		case <-f.fut.Ok():
			f.state = stored
		case err := <-f.fut.Err():
			f.state, f.err = failed, err
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case err := <-f.fut.Err():
			f.state, f.err = failed, err
		default:
		}
	}
	if f.state == failed && fatalPublish(f.err) {
		return fmt.Errorf("publish to stream %s: %w", f.msg.Subject, f.err)
	}
	return nil
}

// settle takes the acknowledged messages off the head of the queue; with
// block it waits for the head's answer. A failed message sends
// everything unacknowledged again, in order.
func (b *outJS) settle(ctx context.Context, block bool) error {
	for len(b.queue) > 0 {
		f := b.queue[0]
		if err := f.check(ctx, block); err != nil {
			return err
		}
		switch f.state {
		case pending:
			return nil
		case stored:
			if err := b.ack(f); err != nil {
				return err
			}
		case failed:
			if err := b.resend(ctx); err != nil {
				return err
			}
		}
		block = false
	}
	return nil
}

// ack takes the acknowledged head off the queue and out of the spool.
func (b *outJS) ack(f *inflight) error {
	b.queue[0] = nil
	b.queue = b.queue[1:]
	b.bytes -= f.size
	b.st.records.Add(1)
	b.st.bytes.Add(uint64(len(f.msg.Data)))
	return b.sp.done(f.pos)
}

// resend waits for the connection and for the answer to every message in
// flight, then sends again, in order, every one that failed. A message
// sent on a connection that broke is either stored (its acknowledgement
// may be lost) or lost with every message after it on that connection:
// sending the failed ones again in order, and nothing new before, keeps
// the stream's order, and the duplicate window drops what is stored
// twice.
func (b *outJS) resend(ctx context.Context) error {
	for {
		if err := waitConnected(ctx, b.nc); err != nil {
			return err
		}
		for _, f := range b.queue {
			if err := f.check(ctx, true); err != nil {
				return err
			}
		}
		for len(b.queue) > 0 && b.queue[0].state == stored {
			if err := b.ack(b.queue[0]); err != nil {
				return err
			}
		}
		b.epoch = b.nc.Stats().Reconnects
		again := false
		for _, f := range b.queue {
			if f.state != failed {
				continue
			}
			fut, err := b.js.PublishMsgAsync(f.msg)
			if err != nil {
				if ctx.Err() != nil || fatalPublish(err) {
					return err
				}
				again = true // disconnected again: the rest next round
				break
			}
			f.fut, f.state, f.err = fut, pending, nil
			b.st.resent.Add(1)
			again = true
		}
		if !again {
			return nil
		}
	}
}

// fatalPublish tells an error that sending again cannot cure (the
// stream refused the message) from a lost connection or answer.
func fatalPublish(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return true
	}
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// ensureStream opens the stream, creating it when missing: file storage,
// bound to the bridge's subject (with its wildcards, inbound), two
// minutes of duplicate window.
func ensureStream(ctx context.Context, c *Config, js jetstream.JetStream) (jetstream.Stream, error) {
	for {
		s, err := js.Stream(ctx, c.Stream)
		if err == nil {
			info := s.CachedInfo()
			for _, subj := range info.Config.Subjects {
				if subjectCovers(subj, c.NATS.Subject) || (c.Direction == Inbound && subjectCovers(c.NATS.Subject, subj)) {
					return s, nil
				}
			}
			return nil, fmt.Errorf("stream %s is bound to %s, not to %s", c.Stream, strings.Join(info.Config.Subjects, ", "), c.NATS.Subject)
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = js.CreateStream(ctx, jetstream.StreamConfig{
				Name: c.Stream, Subjects: []string{c.NATS.Subject}, Storage: jetstream.FileStorage,
				Duplicates: 2 * time.Minute,
			})
			if err == nil {
				c.logf("created stream %s bound to %s", c.Stream, c.NATS.Subject)
				return s, nil
			}
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // created meanwhile by the bridge at the other end
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return nil, fmt.Errorf("stream %s: %w", c.Stream, err)
		}
		// Not connected yet, or no answer: wait and ask again.
		c.logf("stream %s: %v; retrying", c.Stream, err)
		if err := waitConnected(ctx, js.Conn()); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(reconnectWait):
		}
	}
}

// subjectCovers reports whether the subject filter f matches every
// subject that s matches (s may have wildcards too).
func subjectCovers(f, s string) bool {
	ft, st := strings.Split(f, "."), strings.Split(s, ".")
	for i, t := range ft {
		if t == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		if t != "*" && t != st[i] {
			return false
		}
		if t == "*" && st[i] == ">" {
			return false
		}
	}
	return len(ft) == len(st)
}
