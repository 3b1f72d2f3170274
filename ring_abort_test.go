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
