package shmbuf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// TestRing_ClaimAbort: Abort drops a claimed record without closing the
// writer: a reader waiting at it moves past it to the next record, the
// stream goes on, and the writer may claim again. Abort without a claim
// is a misuse, and after Close it says ErrClosed.
func TestRing_ClaimAbort(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{Wait: shmbuf.WaitBlock})
	if err := w.Abort(); !errors.Is(err, shmbuf.ErrInvalidArgument) {
		t.Fatalf("Abort without Claim: %v, want ErrInvalidArgument", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 2)
	go func() {
		for range 2 {
			rec, err := rd.Next(ctx)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(rec)
		}
	}()
	b, err := w.Claim(7)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "dropped")
	time.Sleep(20 * time.Millisecond) // the reader waits at the claim, usually
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, shmbuf.ErrInvalidArgument) {
		t.Fatalf("Commit after Abort: %v, want ErrInvalidArgument", err)
	}
	if _, err := w.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	// Many aborted claims, around the end of the lap too.
	for i := range 100 {
		b, err := w.Claim(30 + i)
		if err != nil {
			t.Fatal(err)
		}
		copy(b, "dropped")
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	b, err = w.Claim(4)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "also")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kept", "also"} {
		if rec := <-got; rec != want {
			t.Fatalf("reader got %q, want %q", rec, want)
		}
	}
	// The writer is still attached: no end of stream after the aborts.
	w.Claim(5)
	w.Abort()
	if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
		t.Fatalf("after the aborted claims: %v, want ErrEmpty", err)
	}
	w.Close()
	if err := w.Abort(); !errors.Is(err, shmbuf.ErrClosed) {
		t.Fatalf("Abort after Close: %v, want ErrClosed", err)
	}
}

// TestRing_ReaderHoldingOneRecordHoldsOnlyIt: a reader that took one
// record after passing a ring's worth of aborted claims (pads), and then
// reads no more, holds writers back by that record alone: the writer's
// next record fits. The reader used to publish its cursor only at its
// next call, so it held back the whole ring it had passed, and the writer
// waited for ever.
func TestRing_ReaderHoldingOneRecordHoldsOnlyIt(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pads up to a few bytes short of the reader's cursor plus the
	// capacity, then one record: all the space writers may use.
	for {
		st, _ := r.Stat()
		if st.Tail+300 > uint64(st.Capacity) {
			break
		}
		if _, err := w.Claim(200); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if rec, err := rd.TryNext(); err != nil || string(rec) != "held" {
		t.Fatalf("TryNext: %q, %v, want held", rec, err)
	}
	// The reader keeps "held" and calls no more: the writer needs
	// the space the reader passed (40 records of 32 bytes in the ring,
	// where fewer than 300 bytes were left).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 40 {
		if _, err := w.WriteContext(ctx, []byte("more records")); err != nil {
			st, _ := r.Stat()
			t.Fatalf("write %d while the reader holds one record: %v (%+v)", i, err, st)
		}
	}
}

// TestRing_ClaimContextEnds: ClaimContext waiting for space in a full
// ring (policy block, a reader that reads nothing) returns when its
// context ends, with the context's error, and claims nothing.
func TestRing_ClaimContextEnds(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewReader(shmbuf.ReaderOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		st, _ := r.Stat()
		if st.Fill+200 > uint64(st.Capacity) {
			break
		}
		if _, err := w.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.ClaimContext(ctx, 500); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ClaimContext in a full ring: %v, want the context's deadline", err)
	}
	if err := w.Abort(); !errors.Is(err, shmbuf.ErrInvalidArgument) {
		t.Fatalf("Abort after a ClaimContext that failed: %v, want ErrInvalidArgument (no claim)", err)
	}
}
