package shmbuf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

func init() {
	childRoles["writeto-writer"] = writeToWriterChild
	childRoles["writeto-reader"] = writeToReaderChild
}

// mixedLen is the length of record seq of the WriteTo tests: mostly small
// records of varied lengths, every 50th one large, every 7th run of equal
// ones, so that gathered records and records written alone alternate.
func mixedLen(seq uint64) int {
	switch {
	case seq%50 == 49:
		return 40000 + int(seq%8)
	case seq/10%7 == 3:
		return 64
	}
	return recLen(seq, 300)
}

// mixedStream is the concatenation of records 0..n-1 of mixedLen lengths.
func mixedStream(n uint64) []byte {
	var b bytes.Buffer
	buf := make([]byte, 40008)
	for seq := range n {
		rec := buf[:mixedLen(seq)]
		fillRec(rec, 0, seq)
		b.Write(rec)
	}
	return b.Bytes()
}

// writeToWriterChild writes RING_N records of mixedLen lengths with
// WriteBatch, in batches of 1 to 13, and closes.
func writeToWriterChild() int {
	r, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	n := uint64(envInt("RING_N", 1000))
	bufs := make([][]byte, 13)
	for i := range bufs {
		bufs[i] = make([]byte, 40008)
	}
	recs := make([][]byte, 0, len(bufs))
	for seq, b := uint64(0), 0; seq < n; b++ {
		recs = recs[:0]
		for k := 0; k < 1+b%len(bufs) && seq < n; k++ {
			rec := bufs[k][:mixedLen(seq)]
			fillRec(rec, 0, seq)
			recs = append(recs, rec)
			seq++
		}
		if _, err := w.WriteBatch(recs); err != nil {
			return childFail("writer: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		return childFail("%v", err)
	}
	return 0
}

// writeToReaderChild copies the stream to its standard output with
// io.Copy (WriteTo) until the end of the stream.
func writeToReaderChild() int {
	r, rd, err := childReader(shmbuf.ReaderOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	defer rd.Close()
	if _, err := io.Copy(os.Stdout, rd); err != nil {
		return childFail("WriteTo: %v", err)
	}
	return 0
}

// countingWriter keeps what is written to it and counts the Writes.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

// TestRingWriteTo_FewWrites: a writer process wrote a stream of 20,000
// small records; WriteTo gives every byte of it to w, in order, in about
// one Write per 64 KiB, not one per record.
func TestRingWriteTo_FewWrites(t *testing.T) {
	const n, maxLen = 20000, 200
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4 << 20, MaxRecord: maxLen})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := childCmd(t, "ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen)).Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	var w countingWriter
	m, err := rd.WriteTo(&w)
	if err != nil || m != int64(w.Len()) {
		t.Fatalf("WriteTo: %d, %v; %d bytes written", m, err, w.Len())
	}
	sum := sha256.Sum256(w.Bytes())
	if got, want := hex.EncodeToString(sum[:]), streamHash(0, n, maxLen); got != want {
		t.Fatalf("%d bytes written, hash %s; want the stream's %s", w.Len(), got, want)
	}
	if most := w.Len()/(32<<10) + 2; w.writes > most {
		t.Errorf("%d records in %d Writes, want at most %d", n, w.writes, most)
	}
	t.Logf("%d records, %d bytes in %d Writes", n, w.Len(), w.writes)
}

// TestRingWriteTo_PipeAcrossProcesses: a writer process writes small and
// large records in batches while a reader process copies the stream to
// its standard output, a pipe, with WriteTo; every byte arrives, in order.
func TestRingWriteTo_PipeAcrossProcesses(t *testing.T) {
	const n = 5000
	r, addr := newRing(t, shmbuf.RingOptions{Size: 256 << 10, MaxRecord: 40008})
	rc := childCmd(t, "writeto-reader", "RING_ADDR="+addr)
	out, err := rc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(out)
		got <- b
	}()
	waitFor(t, 10*time.Second, "the reader to attach", func() bool {
		st, _ := r.Stat()
		return len(st.Readers) == 1
	})
	if err := childCmd(t, "writeto-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n)).Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	b := <-got
	if err := rc.Wait(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	want := mixedStream(n)
	if !bytes.Equal(b, want) {
		i := 0
		for i < len(b) && i < len(want) && b[i] == want[i] {
			i++
		}
		t.Fatalf("%d bytes through the pipe, want %d; first difference at byte %d", len(b), len(want), i)
	}
}

// TestRingWriteTo_CorruptHeader: WriteTo that reaches a header whose
// length cannot be right, in the middle of a run of equal records a writer
// process wrote, writes every record before it, whole, then returns
// ErrCorrupt.
func TestRingWriteTo_CorruptHeader(t *testing.T) {
	const bad, maxLen = 2*runOf + runOf/2, 64
	rd := corruptRunReader(t, 300, bad, maxLen)
	var w bytes.Buffer
	m, err := rd.WriteTo(&w)
	if !errors.Is(err, shmbuf.ErrCorrupt) {
		t.Fatalf("WriteTo: %d, %v; want ErrCorrupt", m, err)
	}
	var want bytes.Buffer
	for seq := range uint64(bad) {
		rec := make([]byte, runLen(seq, maxLen))
		fillRec(rec, 0, seq)
		want.Write(rec)
	}
	if m != int64(w.Len()) || !bytes.Equal(w.Bytes(), want.Bytes()) {
		t.Errorf("WriteTo wrote %d bytes (says %d), want the %d bytes of the %d records before the corrupt one", w.Len(), m, want.Len(), bad)
	}
}

// TestRingWriteTo_Lapped: on an overwrite ring that a writer process
// lapped, WriteTo returns the *LostError at once, then, called again, the
// stream from the oldest record still there, every byte in order.
func TestRingWriteTo_Lapped(t *testing.T) {
	const n = 5000
	r, addr := newRing(t, shmbuf.RingOptions{Size: 1 << 20, MaxRecord: 40008, Policy: shmbuf.PolicyOverwrite})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := childCmd(t, "writeto-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n)).Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	var w bytes.Buffer
	m, err := rd.WriteTo(&w)
	le, ok := isLost(err)
	if !ok || m != 0 || le.Records == 0 {
		t.Fatalf("WriteTo: %d, %v; want 0 and a *LostError", m, err)
	}
	if m, err := rd.WriteTo(&w); err != nil || m != int64(w.Len()) {
		t.Fatalf("WriteTo after the loss: %d, %v", m, err)
	}
	all := mixedStream(n)
	if !bytes.Equal(w.Bytes(), all[int64(len(all))-int64(w.Len()):]) || uint64(len(all)-w.Len()) != le.Bytes {
		t.Errorf("after %d bytes lost, %d bytes written: not the end of the %d-byte stream", le.Bytes, w.Len(), len(all))
	}
}

// TestRingWriteTo_ZeroAllocs: WriteTo of a second stream of small and
// large records allocates nothing (the first one allocated its buffers).
func TestRingWriteTo_ZeroAllocs(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4 << 20, MaxRecord: 40008})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([][]byte, 100)
	for i := range recs {
		recs[i] = make([]byte, mixedLen(uint64(i)))
	}
	stream := func() {
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteBatch(recs); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	stream()
	if _, err := rd.WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	stream()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := rd.WriteTo(io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil || m == 0 {
		t.Fatalf("WriteTo: %d, %v", m, err)
	}
	if a := after.Mallocs - before.Mallocs; a != 0 {
		t.Errorf("WriteTo of %d bytes allocated %d times, want 0", m, a)
	}
}
