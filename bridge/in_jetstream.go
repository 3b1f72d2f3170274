package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmbuf/shmbuf"
)

// DefaultDurable is the inbound consumer's name when none is given: the
// host, the ring and the subject, digested (a durable name takes no dots).
func DefaultDurable(host, ring, subject string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", host, ring, subject)
	return "shmbuf-" + strconv.FormatUint(h.Sum64(), 16)
}

// inJS writes every message of the stream into the ring exactly once
// (see journal.go), acknowledging each once its record is in the ring.
func inJS(ctx context.Context, c *Config, st *stats, nc *nats.Conn, r *shmbuf.Ring, w *shmbuf.Writer) (err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := ensureStream(ctx, c, js)
	if err != nil {
		return err
	}
	durable := c.Durable
	if durable == "" {
		durable = DefaultDurable(hostname(), c.Ring, c.NATS.Subject)
	}
	addr := c.State
	if addr == "" {
		if addr, err = StateAddr(c.Ring, "in-"+durable); err != nil {
			return err
		}
	}
	ringID := identityOf(r).id("")
	j, last, err := openJournal(addr)
	if err != nil {
		return err
	}
	floor := uint64(0) // every message up to it is in the ring
	switch {
	case last.ring != ringID:
		if last.seq != 0 {
			c.logf("journal %s is about an earlier ring at this address: starting afresh", addr)
		}
	case last.state == noteWritten:
		floor = last.seq
	default:
		committed, known, err := resolve(r, last.pos)
		if err != nil {
			c.logf("cannot tell whether message %d reached the ring: %v", last.seq, err)
		}
		switch {
		case committed:
			floor = last.seq
		case known:
			floor = last.seq - 1
		default:
			// Written again rather than lost.
			floor = last.seq - 1
			st.uncertain.Add(1)
			c.logf("cannot tell whether message %d reached the ring (it moved on past position %d): writing it again", last.seq, last.pos)
		}
	}
	cons, err := startConsumer(ctx, c, nc, stream, durable, &floor, ringID == last.ring && last.seq != 0)
	if err != nil {
		j.close(false)
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	// A reconnection restarts the consumer from the message after floor:
	// messages handed out before the break would otherwise come again
	// only after the ack wait, behind later ones.
	var it jetstream.MessagesContext
	var itMu sync.Mutex
	var epoch atomic.Uint64 // the reconnect count the consumer was made at
	epoch.Store(st.reconnects.Load())
	open := func() error {
		n, err := cons.Messages(jetstream.PullMaxMessages(c.maxPending()))
		if err != nil {
			return err
		}
		itMu.Lock()
		it = n
		itMu.Unlock()
		return nil
	}
	if err := open(); err != nil {
		j.close(false)
		return err
	}
	stopIt := func() {
		itMu.Lock()
		it.Stop()
		itMu.Unlock()
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		t := time.NewTicker(connPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				stopIt() // ends the wait for a message
				return
			case <-stopped:
				return
			case <-t.C:
				if st.reconnects.Load() != epoch.Load() {
					stopIt()
				}
			}
		}
	}()
	defer func() {
		stopIt()
		err = errors.Join(err, finishJS(ctx, nc, cons, j, floor))
	}()
	for {
		itMu.Lock()
		cur := it
		itMu.Unlock()
		m, err := cur.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if e := st.reconnects.Load(); e != epoch.Load() {
				if cons, err = startConsumer(ctx, c, nc, stream, durable, &floor, true); err != nil {
					return quiet(ctx, err)
				}
				if err := open(); err != nil {
					return err
				}
				epoch.Store(e)
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			c.logf("%v", err)
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			c.logf("%v", err)
			continue
		}
		seq := meta.Sequence.Stream
		if seq <= floor {
			st.duplicates.Add(1)
			m.Ack()
			continue
		}
		data := m.Data()
		if len(data) == 0 {
			m.Ack()
			floor = seq
			continue
		}
		buf, err := w.Claim(len(data))
		if errors.Is(err, shmbuf.ErrTooLarge) {
			st.dropped.Add(1)
			c.logf("message %d of %d bytes cannot be a record of this ring: %v; terminated", seq, len(data), err)
			m.Term()
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		copy(buf, data)
		_, pos := w.Origin()
		if err := j.note(note{seq, pos, ringID, noteCommitting}); err != nil {
			return err
		}
		if err := w.Commit(); err != nil {
			return err
		}
		if err := j.note(note{seq, pos, ringID, noteWritten}); err != nil {
			return err
		}
		floor = seq
		st.records.Add(1)
		st.bytes.Add(uint64(len(data)))
		m.Ack()
	}
}

// finishJS sends the acknowledgements out and, when the consumer has
// them all, removes the journal, which holds nothing more.
func finishJS(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer, j *journal, floor uint64) error {
	empty := false
	if nc.IsConnected() && nc.FlushTimeout(flushWait) == nil {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushWait)
		info, err := cons.Info(ictx)
		cancel()
		empty = err == nil && info.NumAckPending == 0 && info.AckFloor.Stream >= floor
	}
	return j.close(empty)
}

// startConsumer (re)creates the durable consumer so that it delivers from
// the message after floor, in stream order. A consumer left by a bridge
// that died would redeliver what it had handed to it only after its ack
// wait, once later messages had gone by: the bridge would then take those
// for duplicates. Without a journal (a first start, or a clean stop that
// removed it) floor is the consumer's acknowledgement floor.
func startConsumer(ctx context.Context, c *Config, nc *nats.Conn, stream jetstream.Stream, durable string, floor *uint64, journaled bool) (jetstream.Consumer, error) {
	for {
		cons, err := func() (jetstream.Consumer, error) {
			old, err := stream.Consumer(ctx, durable)
			switch {
			case err == nil:
				if !journaled {
					info, err := old.Info(ctx)
					if err != nil {
						return nil, err
					}
					*floor = info.AckFloor.Stream
				}
				if err := stream.DeleteConsumer(ctx, durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
					return nil, err
				}
			case !errors.Is(err, jetstream.ErrConsumerNotFound):
				return nil, err
			}
			cfg := jetstream.ConsumerConfig{
				Durable: durable, FilterSubject: c.NATS.Subject, AckPolicy: jetstream.AckExplicitPolicy,
				DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: c.maxPending(),
			}
			if *floor > 0 {
				cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, *floor+1
			}
			return stream.CreateConsumer(ctx, cfg)
		}()
		if err == nil || ctx.Err() != nil {
			return cons, err
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && !errors.Is(err, jetstream.ErrConsumerExists) {
			return nil, err
		}
		c.logf("consumer %s: %v; retrying", durable, err)
		if err := waitConnected(ctx, nc); err != nil {
			return nil, err
		}
		time.Sleep(reconnectWait)
	}
}
