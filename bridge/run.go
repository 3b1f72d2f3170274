package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/shmbuf/shmbuf"
)

// stopGrace is how long an inbound bridge that is stopping may take to
// write the message in hand before its ring is closed under it (a full
// ring of policy block would make it wait for ever).
const stopGrace = 2 * time.Second

// Run runs the bridge until ctx ends (nil: a stop, not a failure) or a
// failure that reconnecting cannot cure. The ring is opened before the
// connection, so a missing ring fails at once; the connection is retried
// for ever.
func Run(ctx context.Context, c *Config) (err error) {
	if c.Ring, err = canonical(c.Ring); err != nil {
		return err
	}
	st := &stats{}
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		st.report(c, stop)
	}()
	defer func() {
		close(stop)
		<-reported
		if c.Stats != nil {
			c.Stats.Write(st.line(c, true))
		}
	}()
	if c.Direction == Outbound {
		return runOut(ctx, c, st)
	}
	return runIn(ctx, c, st)
}

func runOut(ctx context.Context, c *Config, st *stats) error {
	r, rd, err := openSource(c.Ring)
	if err != nil {
		return err
	}
	defer r.Close()
	defer rd.Close()
	o := newOrigin(hostname(), identityOf(r))
	nc, err := connect(c, st)
	if err != nil {
		return err
	}
	defer nc.Close()
	if mp := nc.MaxPayload(); mp > 0 && int64(r.MaxRecord()) > mp {
		c.logf("records of up to %d bytes, but the server takes messages of up to %d: larger ones will fail", r.MaxRecord(), mp)
	}
	src := &source{c: c, st: st, r: r, rd: rd}
	if c.Stream == "" {
		return outCore(ctx, c, st, nc, src, o)
	}
	b, err := newOutJS(ctx, c, st, nc, src, o)
	if err != nil {
		return quiet(ctx, err)
	}
	return quiet(ctx, b.run(ctx))
}

func runIn(ctx context.Context, c *Config, st *stats) error {
	r, w, err := openSink(c)
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	nc, err := connect(c, st)
	if err != nil {
		return err
	}
	defer nc.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		select {
		case <-done:
		case <-time.After(stopGrace):
			r.Close() // ends a write waiting for space
		}
	}()
	if c.Stream == "" {
		return quiet(ctx, inCore(ctx, c, st, nc, w))
	}
	return quiet(ctx, inJS(ctx, c, st, nc, r, w))
}

// quiet turns the errors of a stop into nil.
func quiet(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, shmbuf.ErrClosed) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}
