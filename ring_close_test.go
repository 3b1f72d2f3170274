package shmbuf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// blockedPair returns a ring with a Reader blocked in Next (it starts at
// the latest record and nothing more comes) and a Writer blocked in Write
// (the ring is full and a second reader holds the space), each on its own
// goroutine; their results arrive on the channels.
func blockedPair(t *testing.T, wait shmbuf.WaitStrategy) (r *shmbuf.Ring, rd *shmbuf.Reader, w *shmbuf.Writer, rerr, werr chan error) {
	t.Helper()
	r, _ = newRing(t, shmbuf.RingOptions{Size: 4096})
	if _, err := r.NewReader(shmbuf.ReaderOptions{}); err != nil { // holds the space
		t.Fatal(err)
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: wait})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := w.WriteContext(ctx, buf)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	rd, err = r.NewReader(shmbuf.ReaderOptions{Wait: wait, From: shmbuf.FromLatest})
	if err != nil {
		t.Fatal(err)
	}
	rerr, werr = make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := rd.Next(context.Background())
		rerr <- err
	}()
	go func() {
		_, err := w.Write(buf)
		werr <- err
	}()
	time.Sleep(100 * time.Millisecond) // both are waiting by now
	select {
	case err := <-rerr:
		t.Fatalf("Next returned before Close: %v", err)
	case err := <-werr:
		t.Fatalf("Write returned before Close: %v", err)
	default:
	}
	return r, rd, w, rerr, werr
}

// wantClosed checks that a blocked call ended with ErrClosed by the time
// Close returned.
func wantClosed(t *testing.T, what string, ch chan error) {
	t.Helper()
	select {
	case err := <-ch:
		if !errors.Is(err, shmbuf.ErrClosed) {
			t.Errorf("%s blocked during Close: %v, want ErrClosed", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still blocked 5s after Close returned", what)
	}
}

// TestRing_CloseEndsBlockedCalls: Ring.Close from another goroutine ends
// a Reader blocked in Next and a Writer blocked in Write with ErrClosed,
// as io.Pipe's Close does, before it unmaps the ring (run it with -race).
func TestRing_CloseEndsBlockedCalls(t *testing.T) {
	t.Parallel()
	for _, wait := range []shmbuf.WaitStrategy{shmbuf.WaitAdaptive, shmbuf.WaitSpin, shmbuf.WaitBlock} {
		t.Run(wait.String(), func(t *testing.T) {
			r, rd, w, rerr, werr := blockedPair(t, wait)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			wantClosed(t, "Next", rerr)
			wantClosed(t, "Write", werr)
			// Everything after Close is ErrClosed, and closing again is
			// fine.
			if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrClosed) {
				t.Errorf("TryNext after Close: %v", err)
			}
			if _, err := w.Write([]byte("x")); !errors.Is(err, shmbuf.ErrClosed) {
				t.Errorf("Write after Close: %v", err)
			}
			if _, err := r.NewReader(shmbuf.ReaderOptions{}); !errors.Is(err, shmbuf.ErrClosed) {
				t.Errorf("NewReader after Close: %v", err)
			}
			if _, err := r.Stat(); !errors.Is(err, shmbuf.ErrClosed) {
				t.Errorf("Stat after Close: %v", err)
			}
			if err := rd.Close(); err != nil {
				t.Errorf("Reader.Close after Ring.Close: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Writer.Close after Ring.Close: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Ring.Close: %v", err)
			}
		})
	}
}

// TestRing_HandleCloseEndsBlockedCall: a Reader's or Writer's own Close,
// from another goroutine, ends its blocked call the same way, and the
// ring stays usable.
func TestRing_HandleCloseEndsBlockedCall(t *testing.T) {
	t.Parallel()
	r, rd, w, rerr, werr := blockedPair(t, shmbuf.WaitAdaptive)
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, "Next", rerr)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, "Write", werr)
	st, err := r.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Writers) != 0 || len(st.Readers) != 1 || st.Ended != "eof" {
		t.Errorf("after both Closes: %d writers, %d readers, ended %q; want 0, 1 (the other reader), eof",
			len(st.Writers), len(st.Readers), st.Ended)
	}
}
