package shmbuf_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// TestRing_AttachAsLastCloses: one writer closes while another attaches,
// writes and closes, many times over. A reader gets both records of each
// round (an io.EOF between them is a stream that ended before the second
// writer came) and, once both closed, io.EOF: never ErrWriterLost, never
// a wait that does not end.
func TestRing_AttachAsLastCloses(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, Writers: 2})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	eofBetween := 0
	for round := range 300 {
		first, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := first.Write([]byte{'a', byte(round)}); err != nil {
				errs <- err
			}
			errs <- first.Close()
		}()
		go func() {
			defer wg.Done()
			w, err := r.NewWriter(shmbuf.WriterOptions{})
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.Write([]byte{'b', byte(round)}); err != nil {
				errs <- err
			}
			errs <- w.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		seen := map[byte]bool{}
		for len(seen) < 2 {
			rec, err := rd.Next(ctx)
			if err == io.EOF {
				// Between the streams Next returns io.EOF until the next
				// one starts: a writer that failed never starts it.
				if ctx.Err() != nil {
					t.Fatalf("round %d: records %v, then only io.EOF for 10 s; writers: %v", round, seen, drain(errs))
				}
				eofBetween++
				continue
			}
			if err != nil {
				cancel()
				t.Fatalf("round %d, records %v: %v", round, seen, err)
			}
			if len(rec) != 2 || rec[1] != byte(round) || seen[rec[0]] {
				t.Fatalf("round %d: unexpected record %q after %v", round, rec, seen)
			}
			seen[rec[0]] = true
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// Both closed: the stream has ended.
		if _, err := rd.Next(ctx); err != io.EOF {
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("round %d: no end of stream 10 s after both writers closed", round)
			}
			t.Fatalf("round %d: after both writers closed: %v, want io.EOF", round, err)
		}
		cancel()
	}
	t.Logf("300 rounds, %d ends of stream seen between the two writers", eofBetween)
}

// drain returns the errors waiting in errs.
func drain(errs chan error) []error {
	var out []error
	for {
		select {
		case err := <-errs:
			out = append(out, err)
		default:
			return out
		}
	}
}
