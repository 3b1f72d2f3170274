package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"

	"github.com/shmbuf/shmbuf"
)

// readRing prints a ring's records, each as the bytes written: the ones
// there now (plain read), every one until the stream ends (--until-end),
// or every one of this stream and the next ones until interrupted (-f);
// a stream whose writers died ends with ErrWriterLost, also for a plain
// read. A reader lapped under policy overwrite reports its loss on stderr, goes
// on, and makes the exit code 1.
//
// Without write permission (a ring of another user's with mode 0644, or
// on a read-only file system) it reads as an observer, saying so in one
// line on stderr: it takes no reader slot, holds no writer back, and may
// therefore miss records, which it reports as a lapped reader does.
func (o *readOptions) readRing(ctx context.Context) error {
	r, observe, err := openRingToRead(o.addr.String())
	if err != nil {
		return err
	}
	defer r.Close()
	var rd batchSource
	if observe {
		fmt.Fprintf(o.io.err, "shmbuf: read %s: no write permission: reading as an observer, which holds no writer back and may miss records\n", quoteName(o.addr.String()))
		ob, err := r.NewObserver(shmbuf.ObserverOptions{Wait: o.wait, From: o.from})
		if err != nil {
			return err
		}
		rd = observerBatches{ob}
	} else {
		reader, err := r.NewReader(shmbuf.ReaderOptions{Wait: o.wait, From: o.from})
		if err != nil {
			return err
		}
		rd = reader
	}
	defer rd.Close()
	p := &ringPrinter{o: o, r: r, rd: rd, observer: observe, out: newRingOut(o.io.out), recs: make([][]byte, maxIovecs)}
	if o.progress || (o.follow || o.untilEnd) && isTerminalOut(o.io.err) && !isTerminalOut(o.io.out) {
		p.meter = startProgress(o.io.err, isTerminalOut(o.io.err), "read")
	}
	err = errors.Join(p.loop(ctx), p.flush(), p.lostStatus())
	p.meter.stop()
	return err
}

// openRingToRead opens a ring for a reader, or, when the caller may not
// write to it, read-only for an observer (observe).
func openRingToRead(addr string) (r *shmbuf.Ring, observe bool, err error) {
	r, err = shmbuf.OpenRing(addr)
	if err == nil || !(errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		return r, false, err
	}
	r, err2 := shmbuf.OpenRingReadOnly(addr)
	if err2 != nil {
		return nil, false, err // the reason it could not be read at all
	}
	return r, true, nil
}

// batchSource is a ring Reader, or an Observer taking one record a call.
type batchSource interface {
	ReadBatch(ctx context.Context, recs [][]byte) (int, error)
	TryReadBatch(recs [][]byte) (int, error)
	Close() error
}

// observerBatches gives an Observer the Reader's batch calls, a record at
// a time: a record it returns stays valid until its next call, which the
// printer makes only after writing the batch out.
type observerBatches struct{ *shmbuf.Observer }

func (o observerBatches) ReadBatch(ctx context.Context, recs [][]byte) (int, error) {
	rec, err := o.Next(ctx)
	return oneRecord(recs, rec, err)
}

func (o observerBatches) TryReadBatch(recs [][]byte) (int, error) {
	rec, err := o.TryNext()
	return oneRecord(recs, rec, err)
}

func oneRecord(recs [][]byte, rec []byte, err error) (int, error) {
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	recs[0] = rec
	return 1, nil
}

// ringPrinter copies records from a reader to standard output, taking
// every record ready in one call (ReadBatch). Small records are buffered
// and flushed before the reader waits or stops, so a busy stream costs
// few writes and an idle one shows everything; large ones go out straight
// from the ring (see ringOut).
type ringPrinter struct {
	o  *readOptions
	r  *shmbuf.Ring
	rd batchSource
	// observer: rd is an Observer on a ring opened read-only, which
	// cannot reap dead writers.
	observer bool
	out      *ringOut
	recs     [][]byte  // the batch
	meter    *progress // --progress; nil: off
	lost     bool      // records were lost (policy overwrite), said on stderr
}

func (p *ringPrinter) loop(ctx context.Context) error {
	following := p.o.follow || p.o.untilEnd
	reaped := false
	for printed := 0; p.o.count == 0 || printed < p.o.count; {
		select {
		case <-ctx.Done(): // a busy stream never waits in Next
			return context.Cause(ctx)
		default:
		}
		recs := p.recs
		if p.o.count > 0 {
			recs = recs[:min(len(recs), p.o.count-printed)]
		}
		n, err := p.rd.TryReadBatch(recs)
		if errors.Is(err, shmbuf.ErrEmpty) {
			if !following {
				// Nothing more: find out once whether the writers died
				// (the stream then ends with ErrWriterLost) before
				// reporting the end.
				if reaped || p.observer {
					return nil // all there was (an observer cannot reap)
				}
				reaped = true
				if err := p.r.Reap(); err != nil {
					return err
				}
				continue
			}
			if err := p.flush(); err != nil {
				return err
			}
			n, err = p.rd.ReadBatch(ctx, recs)
		}
		for p.o.follow && ctx.Err() == nil && endOfStream(err) {
			n, err = p.nextStream(ctx, err, recs)
		}
		var le *shmbuf.LostError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return context.Cause(ctx) // interrupted: the normal end of following
		case errors.As(err, &le):
			if err := p.flush(); err != nil {
				return err
			}
			fmt.Fprintln(p.o.io.err, p.o.fail(err))
			p.lost = true
			continue
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
		bytes, err := p.out.write(recs[:n])
		if err != nil {
			return p.writeErr(err)
		}
		p.meter.add(bytes)
		printed += n
	}
	return nil
}

// endOfStream reports whether err ends a stream: io.EOF after the last
// writer closed, ErrWriterLost when the writers died.
func endOfStream(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, shmbuf.ErrWriterLost)
}

// nextStream waits, for -f, past the end of a stream (err: EOF, or the
// writers lost, which it says on stderr) for the next one, like tail -f
// past the end of a file: Next after an end of stream waits for the next
// stream's first record. The reader keeps its slot meanwhile, so a new
// writer's records wait for it.
func (p *ringPrinter) nextStream(ctx context.Context, err error, recs [][]byte) (int, error) {
	if err := p.flush(); err != nil {
		return 0, err
	}
	if errors.Is(err, shmbuf.ErrWriterLost) {
		fmt.Fprintln(p.o.io.err, p.o.fail(fmt.Errorf("%w; waiting for the next stream", err)))
	}
	return p.rd.ReadBatch(ctx, recs)
}

// flush writes out the buffered records. A consumer that went away
// (EPIPE) leaves nothing to do: not an error.
func (p *ringPrinter) flush() error {
	if err := p.out.flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	return nil
}

func (p *ringPrinter) writeErr(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return err
}

// lostStatus is the exit status of a read that lost records: they were
// reported on stderr as they were lost.
func (p *ringPrinter) lostStatus() error {
	if p.lost {
		return &statusError{exitFailure}
	}
	return nil
}
