package shmbuf_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// TestRing_EndInLapGap: a stream that ends where fewer bytes than a
// record header remain in the lap still ends for a reader, who skips
// those bytes (the crash suite found a reader waiting forever there).
func TestRing_EndInLapGap(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 256, MaxRecord: 64})
	if r.Capacity() != 256 {
		t.Fatalf("capacity %d, the test needs 256", r.Capacity())
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 5 records of 24 bytes and 4 of 32 (16-byte header, 8-aligned) end
	// at 248: 8 bytes short of the lap.
	var want []string
	for i, n := range []int{8, 8, 8, 8, 8, 16, 16, 16, 16} {
		rec := make([]byte, n)
		for j := range rec {
			rec[j] = byte('a' + i)
		}
		if _, err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(rec))
	}
	if st, _ := r.Stat(); st.Tail != 248 {
		t.Fatalf("tail %d, want 248", st.Tail)
	}
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("EOF after %d records, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatalf("after %d records: %v, want io.EOF", i, err)
		}
		if i >= len(want) || string(rec) != want[i] {
			t.Fatalf("record %d = %q", i, rec)
		}
	}
	// A second stream starts after the gap and is read whole.
	w2, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("next stream"))
	w2.Close()
	if rec, err := rd.Next(ctx); err != nil || string(rec) != "next stream" {
		t.Fatalf("second stream: %q, %v", rec, err)
	}
	if _, err := rd.Next(ctx); err != io.EOF {
		t.Fatalf("second stream end: %v, want io.EOF", err)
	}
}
