package main

import (
	"errors"
	"fmt"
	"io"
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
