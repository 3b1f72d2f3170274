package main

import (
	"bufio"
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
	var rd recordSource
	if observe {
		fmt.Fprintf(o.io.err, "shmbuf: read %s: no write permission: reading as an observer, which holds no writer back and may miss records\n", quoteName(o.addr.String()))
		ob, err := r.NewObserver(shmbuf.ObserverOptions{Wait: o.wait, From: o.from})
		if err != nil {
			return err
		}
		rd = ob
	} else {
		reader, err := r.NewReader(shmbuf.ReaderOptions{Wait: o.wait, From: o.from})
		if err != nil {
			return err
		}
		rd = reader
	}
	defer rd.Close()
	p := &ringPrinter{o: o, r: r, rd: rd, observer: observe, bw: bufio.NewWriterSize(o.io.out, 64<<10)}
	return errors.Join(p.loop(ctx), p.flush(), p.lostStatus())
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

// recordSource is a ring Reader or Observer.
type recordSource interface {
	Next(context.Context) ([]byte, error)
	TryNext() ([]byte, error)
	Close() error
}

// ringPrinter copies records from a reader to standard output. Records
// are buffered and flushed before the reader waits or stops, so a busy
// stream costs few writes and an idle one shows everything.
type ringPrinter struct {
	o        *readOptions
	r        *shmbuf.Ring
	rd       recordSource
	observer bool // rd is an Observer, on a ring opened read-only
	bw       *bufio.Writer
	lost     bool // records were lost (lapped), said on stderr
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
		rec, err := p.rd.TryNext()
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
			rec, err = p.rd.Next(ctx)
		}
		for p.o.follow && ctx.Err() == nil && endOfStream(err) {
			rec, err = p.nextStream(ctx, err)
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
		if _, err := p.bw.Write(rec); err != nil {
			return p.writeErr(err)
		}
		printed++
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
func (p *ringPrinter) nextStream(ctx context.Context, err error) ([]byte, error) {
	if err := p.flush(); err != nil {
		return nil, err
	}
	if errors.Is(err, shmbuf.ErrWriterLost) {
		fmt.Fprintln(p.o.io.err, p.o.fail(fmt.Errorf("%w; waiting for the next stream", err)))
	}
	return p.rd.Next(ctx)
}

// flush writes out the buffered records. A consumer that went away
// (EPIPE) leaves nothing to do: not an error.
func (p *ringPrinter) flush() error {
	if err := p.bw.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
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
