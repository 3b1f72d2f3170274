package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// chunkRead is the size of one read of standard input with --chunks:
// large, so that a file or a fast pipe costs few system calls and few
// hand-overs from the reading goroutine.
const chunkRead = 1 << 20

// streamChunks is stream for --chunks: the input is a byte stream, cut
// into records of up to the ring's largest record wherever the reads of
// standard input end; boundaries mean nothing, and a reader gets the
// bytes back by concatenating the records (`shmbuf read`). Each chunk
// read goes into the ring with one WriteBatch, copied once, from the
// buffer it was read into.
func (s *ringSink) streamChunks(in *input) error {
	limit := s.ring.MaxRecord()
	var recs [][]byte
	for {
		chunk, err := in.next()
		if len(chunk) > 0 {
			recs = recs[:0]
			for p := chunk; len(p) > 0; {
				n := min(len(p), limit)
				recs = append(recs, p[:n])
				p = p[n:]
			}
			s.watch.writing.Store(true)
			n, werr := s.w.WriteBatchContext(s.ctx, recs)
			s.watch.writing.Store(false)
			s.watch.progress.Add(uint64(n))
			written := 0
			for _, r := range recs[:n] {
				written += len(r)
			}
			s.meter.add(written)
			if werr != nil {
				return s.writeErr(werr, len(chunk)-written+in.discard())
			}
		}
		var stopped *interrupted
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &stopped):
			return stopped
		default:
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
}

// regularFile returns in as a regular file, or nil.
func regularFile(in io.Reader) *os.File {
	f, ok := in.(*os.File)
	if !ok {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	return f
}

// streamFile is streamChunks for a standard input that is a regular file:
// it claims each record in the ring and reads the file straight into it
// (pread), so the bytes are copied once, from the page cache into the
// ring, and leaves the offset after what it wrote, as reading would. A
// file that grows meanwhile is followed to its end as it is when the copy
// reaches it; one that shrinks ends the write with an error.
func (s *ringSink) streamFile(f *os.File) (err error) {
	fd := int(f.Fd())
	off, err := unix.Seek(fd, 0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	defer func() {
		if _, serr := unix.Seek(fd, off, io.SeekStart); serr != nil && err == nil {
			err = fmt.Errorf("reading standard input: %w", serr)
		}
	}()
	limit := int64(s.ring.MaxRecord())
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		if off >= st.Size {
			return nil
		}
		n := min(limit, st.Size-off)
		s.watch.writing.Store(true)
		err := s.fileRecord(fd, off, int(n), int(st.Size-off))
		s.watch.writing.Store(false)
		if err != nil {
			return err
		}
		s.watch.progress.Add(1)
		s.meter.add(int(n))
		off += n
	}
}

// fileRecord writes the n bytes of the file at off as one record, read
// straight into the space claimed for it; unwritten is what a failure
// leaves of the input.
func (s *ringSink) fileRecord(fd int, off int64, n, unwritten int) error {
	buf, err := s.w.ClaimContext(s.ctx, n)
	if err != nil {
		return s.writeErr(err, unwritten)
	}
	got, err := preadFull(fd, buf, off)
	if err != nil || got < n {
		s.w.Abort()
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		return errInputShrank
	}
	return s.writeErr(s.w.Commit(), unwritten)
}

// preadFull reads len(p) bytes at off unless the file ends first.
func preadFull(fd int, p []byte, off int64) (n int, err error) {
	for n < len(p) {
		m, err := unix.Pread(fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			return n, err
		}
		n += m
	}
	return n, nil
}

var errInputShrank = errors.New("reading standard input: the file shrank while it was written")
