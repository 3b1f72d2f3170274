package shmbuf_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// TestRing_CancelThenClose: a reader that sleeps in Next between the
// records of a writer, whose context ends at any moment, and the ring
// closed (unmapped) the moment the reader stops, as the CLI does on a
// signal. The waker the context started must be done with the mapping by
// then: one still to run would touch unmapped memory and crash the
// process.
func TestRing_CancelThenClose(t *testing.T) {
	t.Parallel()
	for round := range 200 {
		name := uniqueName(t)
		r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 1 << 16, Policy: shmbuf.PolicyOverwrite})
		if err != nil {
			t.Fatal(err)
		}
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rd, err := r.NewReader(shmbuf.ReaderOptions{Wait: shmbuf.WaitBlock})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := rd.Next(ctx); err != nil {
					done <- err
					return
				}
			}
		}()
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for ctx.Err() == nil {
				w.Write([]byte("record"))
				time.Sleep(20 * time.Microsecond) // the reader sleeps between records
			}
		}()
		time.Sleep(time.Duration(1+round%5) * time.Millisecond)
		cancel()
		err = <-done
		r.Close() // at once, as the CLI does; the writer's next call fails
		<-wdone
		if !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
			t.Fatalf("round %d: Next: %v, want context.Canceled", round, err)
		}
		shmbuf.Remove(name)
	}
}
