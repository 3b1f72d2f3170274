package main

import (
	"bufio"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ringOut is where `read` puts records: standard output, through a 64 KiB
// buffer for small records, so that a busy stream of short lines costs few
// writes, and straight from the ring with writev(2) for a batch of large
// records, so that bulk data costs no copy in this process and one system
// call per batch (the records lie in the shared mapping, each behind its
// header, so one write(2) cannot take them).
type ringOut struct {
	bw   *bufio.Writer
	conn syscall.RawConn // standard output as a file; nil: anything else
}

// ringOutDirect is the batch size from which records bypass the buffer.
const ringOutDirect = 32 << 10

// maxIovecs is IOV_MAX on Linux: the records of one writev(2).
const maxIovecs = 1024

func newRingOut(w io.Writer) *ringOut {
	o := &ringOut{bw: bufio.NewWriterSize(w, 64<<10)}
	if f, ok := w.(*os.File); ok {
		if c, err := f.SyscallConn(); err == nil {
			o.conn = c
		}
	}
	return o
}

// write writes recs, in order, and returns how many bytes they held.
// It moves the start of recs' elements past what writev wrote.
func (o *ringOut) write(recs [][]byte) (total int, err error) {
	for _, r := range recs {
		total += len(r)
	}
	if o.conn == nil || total < ringOutDirect {
		for _, r := range recs {
			if _, err := o.bw.Write(r); err != nil {
				return total, err
			}
		}
		return total, nil
	}
	if err := o.bw.Flush(); err != nil {
		return total, err
	}
	for len(recs) > 0 {
		n, err := o.writev(recs[:min(len(recs), maxIovecs)])
		if err != nil {
			return total, err
		}
		// Move past what was written: whole records, then part of one.
		for n > 0 {
			if n < len(recs[0]) {
				recs[0] = recs[0][n:]
				break
			}
			n -= len(recs[0])
			recs = recs[1:]
		}
		for len(recs) > 0 && len(recs[0]) == 0 {
			recs = recs[1:]
		}
	}
	return total, nil
}

// writev makes one writev(2) on standard output, waiting through the
// runtime's poller if the descriptor is non-blocking.
func (o *ringOut) writev(iovs [][]byte) (n int, err error) {
	werr := o.conn.Write(func(fd uintptr) bool {
		for {
			n, err = unix.Writev(int(fd), iovs)
			if err != unix.EINTR {
				break
			}
		}
		return err != unix.EAGAIN
	})
	if err == nil {
		err = werr
	}
	if err == nil && n == 0 {
		err = io.ErrShortWrite
	}
	return n, err
}

// flush writes out what the buffer holds.
func (o *ringOut) flush() error { return o.bw.Flush() }
