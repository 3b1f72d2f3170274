package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/shmbuf/shmbuf"
)

// source reads the records of the outbound bridge's ring, following
// across streams (a Reader reports an end of stream once, then waits for
// the next stream): a bridge runs until it is stopped, like read -f.
type source struct {
	c  *Config
	st *stats
	r  *shmbuf.Ring
	rd *shmbuf.Reader
}

// errIdle is next's answer when nothing came while the caller was busy.
var errIdle = errors.New("idle")

// next returns the next record and its origin, waiting for it. While it
// waits, busy reports whether the caller has work in progress (messages
// in flight): then next gives up after wait with errIdle so that the
// caller can tend to it. The record is valid until the next call.
func (s *source) next(ctx context.Context, busy func() bool, wait time.Duration) (rec []byte, writer int, pos uint64, err error) {
	for {
		rec, err = s.rd.TryNext()
		if errors.Is(err, shmbuf.ErrEmpty) {
			rec, err = s.wait(ctx, busy, wait)
		}
		var lost *shmbuf.LostError
		switch {
		case err == nil:
			writer, pos = s.rd.Origin()
			return rec, writer, pos, nil
		case err == errIdle || ctx.Err() != nil:
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, 0, 0, err
		case errors.As(err, &lost):
			// Policy overwrite: the ring's writers overwrote records
			// before the bridge read them.
			s.st.dropped.Add(lost.Records)
			s.c.logf("%v", err)
		case isEnd(err):
			if errors.Is(err, shmbuf.ErrWriterLost) {
				s.c.logf("%v; waiting for the next stream", err)
			}
		default:
			return nil, 0, 0, err
		}
	}
}

// wait waits for a record in Next; when the caller is busy, for at most
// wait (then errIdle).
func (s *source) wait(ctx context.Context, busy func() bool, wait time.Duration) ([]byte, error) {
	wctx := ctx
	if busy != nil && busy() {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	rec, err := s.rd.Next(wctx)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return nil, errIdle
	}
	return rec, err
}
