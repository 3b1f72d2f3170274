package shmbuf

import (
	"context"
	"errors"
	"io"
	"runtime/debug"
)

// WriteTo moves a reader's stream to an io.Writer in batches: ReadBatch
// takes every record ready (one fault guard, one cursor step), records
// smaller than half the gather buffer are copied into it, and the buffer
// goes out in one Write when it is full, before the reader waits, and at
// the end; a larger record goes out in a Write of its own, straight from
// where ReadBatch left it (the shared mapping under PolicyBlock). A stream
// of small records to a pipe, a file or a socket so costs one system call
// per 64 KiB instead of one per record, and a large record costs no copy
// in this process.
const (
	// writeToGather is the size of the gather buffer.
	writeToGather = 64 << 10
	// writeToDirect is the size from which a record is written alone.
	writeToDirect = writeToGather / 2
	// writeToBatch bounds the records of one ReadBatch.
	writeToBatch = 1024
)

// WriteTo writes the payloads to w until the end of the stream (io.EOF is
// not an error here) or an error, taking the records in batches: small
// records are gathered into a buffer the reader owns and written together
// when it is full or the reader has nothing more to read yet, and a record
// of 32 KiB or more goes to w in one Write straight from the shared
// mapping under PolicyBlock (from a verified copy under PolicyOverwrite,
// see Next). On an error of the ring (a *LostError, ErrCorrupt, ErrClosed,
// the end of the stream with ErrWriterLost) the records before it are
// written first; n counts the bytes w took. A Close of rd or of its Ring
// waits for a w.Write in progress to return.
func (rd *Reader) WriteTo(w io.Writer) (n int64, err error) {
	if !rd.calls.enter() {
		return 0, rd.closedErr()
	}
	defer rd.calls.exit()
	if len(rd.rest) > 0 {
		rest, err := rd.takeRest()
		if err != nil {
			return 0, err
		}
		if err := writeOut(w, rest, &n); err != nil {
			return n, err
		}
	}
	if rd.wrecs == nil {
		rd.wbuf = make([]byte, 0, writeToGather)
		rd.wrecs = make([][]byte, writeToBatch)
	}
	buf, recs := rd.wbuf[:0], rd.wrecs
	ctx := context.Background()
	for {
		k, err := rd.readBatch(ctx, false, recs)
		if errors.Is(err, ErrEmpty) {
			// Nothing ready: what is gathered goes out before the wait.
			if err := writeOut(w, buf, &n); err != nil {
				return n, err
			}
			buf = buf[:0]
			k, err = rd.readBatch(ctx, true, recs)
		}
		if err != nil {
			if werr := writeOut(w, buf, &n); werr != nil {
				return n, werr
			}
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		for i := 0; i < k; {
			var took int
			if buf, took, err = rd.gather(buf, recs[i:k]); err != nil {
				return n, err
			}
			if i += took; i == k {
				break
			}
			// The buffer is full, or a large record is next; the
			// records stay valid only until the next ReadBatch, so
			// both go out now.
			if err := writeOut(w, buf, &n); err != nil {
				return n, err
			}
			buf = buf[:0]
			if len(recs[i]) >= writeToDirect {
				if err := writeOut(w, recs[i], &n); err != nil {
					return n, err
				}
				i++
			}
		}
	}
}

// gather appends to buf the records of recs, from the first, that are
// smaller than writeToDirect and fit in it, and reports how many it took.
// The copies read the mapping under PolicyBlock: one fault guard for
// them all.
func (rd *Reader) gather(buf []byte, recs [][]byte) (out []byte, took int, err error) {
	done := false
	defer faultGuard(&err, "read", rd.r.addr, nil, &done, debug.SetPanicOnFault(true))
	for _, rec := range recs {
		if len(rec) >= writeToDirect || len(buf)+len(rec) > cap(buf) {
			break
		}
		buf = append(buf, rec...)
		took++
	}
	done = true
	return buf, took, nil
}

// writeOut writes p to w, counting in n what w took; a short write
// without an error is io.ErrShortWrite, as in io.Copy.
func writeOut(w io.Writer, p []byte, n *int64) error {
	if len(p) == 0 {
		return nil
	}
	m, err := w.Write(p)
	*n += int64(m)
	if err == nil && m < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// takeRest returns what Read left of the last record, copied and verified
// under PolicyOverwrite like a record from Next.
func (rd *Reader) takeRest() (rest []byte, err error) {
	rest, rd.rest = rd.rest, nil
	if !rd.overwrite {
		return rest, nil
	}
	defer faultGuard(&err, "read", rd.r.addr, nil, nil, debug.SetPanicOnFault(true))
	buf := rd.grow(uint64(len(rest)))
	copy(buf, rest)
	// Partner: the walker's Head store (see next).
	if rd.l.Ctl.Head.Load() > rd.cur {
		return nil, rd.unread()
	}
	return buf, nil
}
