package shmbuf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// Runs: the batch reader and the walker that moves Head take a run of
// records of one length in one step, and decode one by one where the
// length changes, at pads and at the end of a lap. These tests write
// runs of equal records (recLen gives every record its own length) in
// batches that start and end anywhere in a run.

func init() {
	childRoles["batch-run-writer"] = batchRunWriterChild
	childRoles["batch-run-reader"] = batchRunReaderChild
}

// runOf is the length of a run of equal records.
const runOf = 40

// runLen is the length of record seq: equal within each run of runOf.
func runLen(seq uint64, maxLen int) int { return recLen(seq/runOf, maxLen) }

// batchRunWriterChild writes RING_N records of runLen lengths with
// WriteBatch, in batches of 1 to RING_BATCH records. With RING_N2 set it
// then prints "half", waits for a byte on stdin and writes RING_N2 more.
// It closes at the end; an error ends it with corruptExit's code.
func batchRunWriterChild() int {
	r, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	maxLen := envInt("RING_MAXLEN", 200)
	most := envInt("RING_BATCH", 64)
	bufs := make([][]byte, most)
	for i := range bufs {
		bufs[i] = make([]byte, maxLen)
	}
	recs := make([][]byte, 0, most)
	var seq uint64
	b := 0
	write := func(n uint64) error {
		for end := seq + n; seq < end; b++ {
			recs = recs[:0]
			for k := 0; k < 1+b*7%most && seq < end; k++ {
				rec := bufs[k][:runLen(seq, maxLen)]
				fillRec(rec, 0, seq)
				recs = append(recs, rec)
				seq++
			}
			if m, err := w.WriteBatch(recs); err != nil || m != len(recs) {
				return fmt.Errorf("write batch: %d of %d: %w", m, len(recs), err)
			}
		}
		return nil
	}
	err = write(uint64(envInt("RING_N", 1000)))
	if n2 := envInt("RING_N2", 0); err == nil && n2 > 0 {
		pauseHalfway()
		err = write(uint64(n2))
	}
	return endWriter(w, err)
}

// batchRunReaderChild reads until the end of the stream with ReadBatch
// (with Next when RING_ONE is set), checking every byte of every record
// against the one written and their order, and prints "ready" once
// attached, then "N LOST": records read and records reported lost (policy
// overwrite; 0 under policy block, where every sequence number must come).
func batchRunReaderChild() int {
	r, rd, err := childReader(shmbuf.ReaderOptions{Wait: waitNamed(os.Getenv("RING_WAIT"))})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	defer rd.Close()
	overwrite := r.Policy() == shmbuf.PolicyOverwrite
	one := os.Getenv("RING_ONE") != ""
	maxLen := envInt("RING_MAXLEN", 200)
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([][]byte, 1+envInt("RING_BATCH", 64)*3)
	want := make([]byte, maxLen)
	var next, n, lost uint64
	for {
		m, err := 0, error(nil)
		if one {
			recs[0], err = rd.Next(ctx)
			m = 1
		} else {
			m, err = rd.ReadBatch(ctx, recs)
		}
		if le, ok := isLost(err); ok && overwrite {
			lost += le.Records
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return childFail("reader after %d records: %v", n, err)
		}
		for _, rec := range recs[:m] {
			_, seq, err := checkRec(rec)
			if err != nil || seq < next || !overwrite && seq != next {
				return childFail("reader: record %d: seq %d, %v", next, seq, err)
			}
			w := want[:runLen(seq, maxLen)]
			fillRec(w, 0, seq)
			if !bytes.Equal(rec, w) {
				return childFail("reader: record %d: %d bytes differ from the %d written", seq, len(rec), len(w))
			}
			next = seq + 1
			n++
		}
	}
	fmt.Printf("%d %d\n", n, lost)
	return 0
}

// TestRingBatch_RunsAcrossProcesses carries runs of equal records from a
// batch writer process to a reader process, which checks every byte of
// every record: under policy block (a small ring, so that runs cross pads
// and lap ends, the writer's walks cross runs, and it waits for the
// reader), with batches read and with records read one by one; and under
// policy overwrite, where the reader is lapped and what it gets plus what
// it is told it lost are exactly the records written.
func TestRingBatch_RunsAcrossProcesses(t *testing.T) {
	const maxLen = 150
	for _, c := range []struct {
		name   string
		size   int64
		policy shmbuf.Policy
		n      int
		env    []string
	}{
		{"block/batch", 16 << 10, shmbuf.PolicyBlock, 40000, []string{"RING_WAIT=adaptive"}},
		{"block/batch-spin", 16 << 10, shmbuf.PolicyBlock, 40000, []string{"RING_WAIT=spin"}},
		{"block/next", 16 << 10, shmbuf.PolicyBlock, 20000, []string{"RING_ONE=1"}},
		{"overwrite/chased", 4 << 10, shmbuf.PolicyOverwrite, 200000, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, addr := newRing(t, shmbuf.RingOptions{Size: c.size, MaxRecord: maxLen, Policy: c.policy})
			env := append([]string{"RING_ADDR=" + addr, fmt.Sprint("RING_N=", c.n), fmt.Sprint("RING_MAXLEN=", maxLen)}, c.env...)
			out := runPair(t, r, "batch-run-reader", "batch-run-writer", env)
			var got, lost uint64
			if _, err := fmt.Sscanf(strings.TrimPrefix(out, "ready\n"), "%d %d", &got, &lost); err != nil {
				t.Fatalf("reader output %q: %v", out, err)
			}
			t.Logf("read %d, lost %d", got, lost)
			if c.policy == shmbuf.PolicyBlock && (got != uint64(c.n) || lost != 0) {
				t.Errorf("read %d, lost %d; want %d, 0", got, lost, c.n)
			}
			if c.policy == shmbuf.PolicyOverwrite && (got+lost != uint64(c.n) || lost == 0) {
				t.Errorf("read %d + lost %d records, want %d in all with some lost", got, lost, c.n)
			}
		})
	}
}

// ringLayout maps the segment at addr again for a test to reach into.
func ringLayout(t *testing.T, addr string) *layout.Ring {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := shmbuf.OpenSegment(a, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	l, err := layout.RingOf(seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// corruptRunReader returns a reader of a ring where a writer process
// wrote n records in runs of equal length (batches of 200, records of up
// to maxLen bytes) and the test then corrupted record bad's header.
func corruptRunReader(t *testing.T, n, bad, maxLen int) *shmbuf.Reader {
	t.Helper()
	r, addr := newRing(t, shmbuf.RingOptions{Size: 64 << 10, MaxRecord: maxLen})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := childCmd(t, "batch-run-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n),
		fmt.Sprint("RING_MAXLEN=", maxLen), "RING_BATCH=200").Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	corruptRecord(t, ringLayout(t, addr), bad)
	return rd
}

// corruptRecord gives the header of record k (counted from Head, which
// must be 0 with no lap completed) a length above MaxRecord, its stamp
// intact: a published header that cannot be right. It returns the
// record's position.
func corruptRecord(t *testing.T, l *layout.Ring, k int) uint64 {
	t.Helper()
	p := l.Ctl.Head.Load()
	for i := 0; ; {
		v := l.RecordAt(p)
		if v.Found != layout.FoundRecord && v.Found != layout.FoundPad {
			t.Fatalf("record %d: found %d at %d", i, v.Found, p)
		}
		if v.Found == layout.FoundRecord {
			if i == k {
				l.Hdr(v.Off).Len = uint32(l.MaxRecord + 1)
				return p
			}
			i++
		}
		p += v.Size
	}
}

// TestRingBatch_CorruptInRun: a header in the middle of a run of equal
// records whose length cannot be right (a writer process wrote the run,
// the test corrupted one header, stamp intact) ends a batch reader's
// batch before it, every record before it whole, and its next call
// with ErrCorrupt; and a writer process whose walk must pass such a
// header (policy block, behind a reader that read it) gets ErrCorrupt,
// never a panic or a Head moved past it.
func TestRingBatch_CorruptInRun(t *testing.T) {
	const maxLen = 64
	t.Run("reader", func(t *testing.T) {
		const bad = 2*runOf + runOf/2
		rd := corruptRunReader(t, 300, bad, maxLen)
		recs := make([][]byte, 64)
		var seq uint64
		for {
			m, err := rd.TryReadBatch(recs)
			if err != nil {
				if !errors.Is(err, shmbuf.ErrCorrupt) || seq != bad || m != 0 {
					t.Fatalf("after %d records: %d, %v; want 0, ErrCorrupt after %d", seq, m, err, bad)
				}
				break
			}
			for _, rec := range recs[:m] {
				want := make([]byte, runLen(seq, maxLen))
				fillRec(want, 0, seq)
				if !bytes.Equal(rec, want) {
					t.Fatalf("record %d: %x, want %x", seq, rec, want)
				}
				seq++
			}
		}
	})
	t.Run("walk", func(t *testing.T) {
		// 150 records of at most 80 bytes of ring fit in 16 KiB: Head
		// stays at 0 until the writer's second part needs the space, and
		// its walks then reach the corrupt header.
		const n1, bad = 150, runOf + runOf/2
		r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10, MaxRecord: maxLen})
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wr := startCorruptChild(t, "batch-run-writer", "half", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n1),
			"RING_N2=100000", fmt.Sprint("RING_MAXLEN=", maxLen))
		recs := make([][]byte, 64)
		for got := 0; got < n1; {
			m, err := rd.TryReadBatch(recs)
			if err != nil {
				t.Fatalf("after %d records: %v", got, err)
			}
			got += m
		}
		// Nothing more: the reader publishes its cursor, past bad.
		if _, err := rd.TryReadBatch(recs); !errors.Is(err, shmbuf.ErrEmpty) {
			t.Fatalf("TryReadBatch after the first part: %v, want ErrEmpty", err)
		}
		l := ringLayout(t, addr)
		at := corruptRecord(t, l, bad)
		wr.start()
		if code := wr.wait(t, "writer", 10*time.Second); code != corruptExitCorrupt {
			t.Fatalf("writer exited %d, want %d (ErrCorrupt)", code, corruptExitCorrupt)
		}
		if h := l.Ctl.Head.Load(); h > at {
			t.Errorf("Head moved to %d, past the corrupt header at %d", h, at)
		}
	})
}
