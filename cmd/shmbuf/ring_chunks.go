package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmbuf/shmbuf"
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

// fileWindow is how much of a regular file streamFile maps at a time.
const fileWindow = 64 << 20

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
// it maps the file, a window at a time, from the current offset, and
// copies the records into the ring straight from the page cache, which
// saves read(2)'s copy, and leaves the offset at the end, as reading it
// would. A file that grows meanwhile is followed to its end as it is when
// the copy reaches it; one that shrinks under the mapping ends the write
// with an error (the fault is caught, not a crash).
func (s *ringSink) streamFile(f *os.File) error {
	fd := int(f.Fd())
	off, err := unix.Seek(fd, 0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	page := int64(os.Getpagesize())
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		if off >= st.Size {
			return nil
		}
		base := off &^ (page - 1)
		n := min(st.Size-base, fileWindow)
		m, err := unix.Mmap(fd, base, int(n), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		unix.Madvise(m, unix.MADV_SEQUENTIAL)
		done, werr := s.writeMapped(m[off-base:])
		unix.Munmap(m)
		off += int64(done)
		if _, err := unix.Seek(fd, off, io.SeekStart); err != nil && werr == nil {
			werr = fmt.Errorf("reading standard input: %w", err)
		}
		if werr != nil {
			var now unix.Stat_t
			if errors.Is(werr, shmbuf.ErrTruncated) && unix.Fstat(fd, &now) == nil && now.Size < base+n {
				return errInputShrank
			}
			return s.writeErr(werr, int(st.Size-off))
		}
	}
}

var errInputShrank = errors.New("reading standard input: the file shrank while it was written")

// writeMapped writes p, mapped from the input file, as records and
// returns how many bytes it wrote. The bytes are first touched in
// WriteBatch's copy, under its fault guard: a fault on the input's
// mapping comes back as ErrTruncated, which streamFile tells from a
// truncated ring by the file's size.
func (s *ringSink) writeMapped(p []byte) (done int, err error) {
	limit := s.ring.MaxRecord()
	var recs [64][]byte
	for len(p) > 0 {
		k := 0
		for ; len(p) > 0 && k < len(recs); k++ {
			m := min(len(p), limit)
			recs[k] = p[:m]
			p = p[m:]
		}
		s.watch.writing.Store(true)
		n, werr := s.w.WriteBatchContext(s.ctx, recs[:k])
		s.watch.writing.Store(false)
		s.watch.progress.Add(uint64(n))
		wrote := 0
		for _, r := range recs[:n] {
			wrote += len(r)
		}
		done += wrote
		s.meter.add(wrote)
		if werr != nil {
			return done, werr
		}
	}
	return done, nil
}
