package shmbuf_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

func init() {
	childRoles["ring-batch-writer"] = ringBatchWriterChild
	childRoles["ring-batch-reader"] = ringBatchReaderChild
}

// ringBatchWriterChild writes RING_N records of writer RING_W with
// WriteBatch, in batches of 1 to RING_BATCH records (varying, so that
// spans end anywhere in a lap), then closes.
func ringBatchWriterChild() int {
	_, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id := uint32(envInt("RING_W", 0))
	n := uint64(envInt("RING_N", 1000)) // forever when negative
	maxLen := envInt("RING_MAXLEN", 200)
	most := envInt("RING_BATCH", 64)
	fmt.Println("ready")
	bufs := make([][]byte, most)
	for i := range bufs {
		bufs[i] = make([]byte, maxLen)
	}
	recs := make([][]byte, 0, most)
	for seq, b := uint64(0), 0; seq < n; b++ {
		recs = recs[:0]
		for k := 0; k < 1+b*7%most && seq < n; k++ {
			rec := bufs[k][:recLen(seq, maxLen)]
			fillRec(rec, id, seq)
			recs = append(recs, rec)
			seq++
		}
		if m, err := w.WriteBatch(recs); err != nil || m != len(recs) {
			fmt.Fprintf(os.Stderr, "write batch: %d of %d: %v\n", m, len(recs), err)
			return 1
		}
	}
	if err := w.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// ringBatchReaderChild reads with ReadBatch until the end of the stream,
// checking every record and each writer's order. It prints "ready" once
// attached, then "N HASH" (policy block) or "N LOST" (policy overwrite:
// records read and records reported lost; the hash of a lossy stream
// means nothing). With RING_SLOW it sleeps a millisecond after every
// batch, so that an overwrite ring laps it.
func ringBatchReaderChild() int {
	wait := waitNamed(os.Getenv("RING_WAIT"))
	r, rd, err := childReader(shmbuf.ReaderOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rd.Close()
	overwrite := r.Policy() == shmbuf.PolicyOverwrite
	slow := os.Getenv("RING_SLOW") != ""
	fmt.Println("ready")
	h := sha256.New()
	next := map[uint32]uint64{}
	var n, lost uint64
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([][]byte, 1+envInt("RING_BATCH", 64)*3)
	for {
		m, err := rd.ReadBatch(ctx, recs)
		if le, ok := isLost(err); ok && overwrite {
			lost += le.Records
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
		if m < 1 {
			fmt.Fprintln(os.Stderr, "reader: empty batch without an error")
			return 1
		}
		for _, rec := range recs[:m] {
			w, seq, err := checkRec(rec)
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return 1
			}
			if seq < next[w] || (!overwrite && seq != next[w]) {
				fmt.Fprintf(os.Stderr, "reader: writer %d: got seq %d, want %d\n", w, seq, next[w])
				return 1
			}
			next[w] = seq + 1
			h.Write(rec)
			n++
		}
		if slow {
			time.Sleep(time.Millisecond)
		}
	}
	if overwrite {
		fmt.Printf("%d %d\n", n, lost)
	} else {
		fmt.Printf("%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	}
	return 0
}

// TestRingBatch_AcrossProcesses carries a checksummed stream between two
// processes, batched on either side or both, with every wait strategy:
// the reader gets every record, whole and in order, then io.EOF.
func TestRingBatch_AcrossProcesses(t *testing.T) {
	t.Parallel()
	// 10000 records are about 100 laps of the ring; SHMBUF_LONG=1 runs 300.
	n, maxLen := testenv.ShortOrLong[uint64](10000, 30000), 300
	for _, c := range []struct{ writer, reader, wait string }{
		{"ring-batch-writer", "ring-batch-reader", "adaptive"},
		{"ring-batch-writer", "ring-batch-reader", "block"},
		{"ring-batch-writer", "ring-batch-reader", "spin"},
		{"ring-batch-writer", "ring-reader", "adaptive"},
		{"ring-writer", "ring-batch-reader", "block"},
	} {
		t.Run(c.writer+"/"+c.reader+"/"+c.wait, func(t *testing.T) {
			// A small ring: spans end at every place in a lap, and the
			// writer waits for the reader often.
			r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10, MaxRecord: maxLen})
			_ = r
			env := []string{"RING_ADDR=" + addr, "RING_WAIT=" + c.wait, fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen)}
			out := runPair(t, r, c.reader, c.writer, env)
			got := strings.TrimPrefix(out, "ready\n")
			if want := fmt.Sprintf("%d %s\n", n, streamHash(0, n, maxLen)); got != want {
				t.Errorf("reader: got %q, want %q", got, want)
			}
		})
	}
}

// TestRingBatch_OverwriteLapsAcrossProcesses: a reader slower than its
// writer on an overwrite ring is lapped; every record it gets is whole
// and in order (a batch overrun while it was copied is reported lost,
// never returned torn), and the records it got plus those reported lost
// are exactly the records written. Slow: the reader sleeps after each
// batch. Chased: a ring of 4 KiB that the writer laps constantly, so the
// reader, resuming at the oldest record, copies what the writer is about
// to overwrite.
func TestRingBatch_OverwriteLapsAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		size int64
		n    int
		slow string
	}{{"slow", 8 << 10, 20000, "1"}, {"chased", 4 << 10, 300000, ""}} {
		t.Run(c.name, func(t *testing.T) {
			const maxLen = 200
			r, addr := newRing(t, shmbuf.RingOptions{Size: c.size, MaxRecord: maxLen, Policy: shmbuf.PolicyOverwrite})
			env := []string{"RING_ADDR=" + addr, fmt.Sprint("RING_N=", c.n), fmt.Sprint("RING_MAXLEN=", maxLen), "RING_SLOW=" + c.slow}
			out := runPair(t, r, "ring-batch-reader", "ring-batch-writer", env)
			var got, lost uint64
			if _, err := fmt.Sscanf(strings.TrimPrefix(out, "ready\n"), "%d %d", &got, &lost); err != nil {
				t.Fatalf("reader output %q: %v", out, err)
			}
			t.Logf("read %d, lost %d", got, lost)
			if got+lost != uint64(c.n) || lost == 0 {
				t.Errorf("read %d + lost %d records, want %d in all with some lost", got, lost, c.n)
			}
		})
	}
}

// TestRingBatch_LappedExactly: in one process, a batch reader of an
// overwrite ring that the writer lapped gets a *LostError counting exactly
// the records it missed, then the oldest records still there, in order.
func TestRingBatch_LappedExactly(t *testing.T) {
	const maxLen = 100
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4 << 10, MaxRecord: maxLen, Policy: shmbuf.PolicyOverwrite})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	recs := make([][]byte, 10)
	for seq := uint64(0); seq < n; seq += 10 {
		for k := range recs {
			recs[k] = make([]byte, recLen(seq+uint64(k), maxLen))
			fillRec(recs[k], 0, seq+uint64(k))
		}
		if m, err := w.WriteBatch(recs); err != nil || m != len(recs) {
			t.Fatalf("WriteBatch: %d, %v", m, err)
		}
	}
	w.Close()
	ctx := context.Background()
	out := make([][]byte, 16)
	m, err := rd.ReadBatch(ctx, out)
	le, ok := isLost(err)
	if !ok || m != 0 {
		t.Fatalf("first ReadBatch: %d, %v; want a *LostError", m, err)
	}
	next := le.Records
	for {
		m, err := rd.ReadBatch(ctx, out)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range out[:m] {
			_, seq, err := checkRec(rec)
			if err != nil || seq != next {
				t.Fatalf("record %d: seq %d, %v", next, seq, err)
			}
			next++
		}
	}
	if next != n {
		t.Errorf("lost %d and read up to %d; want %d in all", le.Records, next, n)
	}
}

// TestRingBatch_EndAndLimits: a batch ends at the end of the stream (the
// next call gets io.EOF, with nothing), empty records write nothing, and
// a record above MaxRecord stops WriteBatch with ErrTooLarge after the
// records before it.
func TestRingBatch_EndAndLimits(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 8 << 10, MaxRecord: 64})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, 8)
	if m, err := rd.TryReadBatch(out); m != 0 || !errors.Is(err, shmbuf.ErrEmpty) {
		t.Fatalf("TryReadBatch of an empty ring: %d, %v; want 0, ErrEmpty", m, err)
	}
	n, err := w.WriteBatch([][]byte{[]byte("a"), nil, []byte("bc"), make([]byte, 65), []byte("never")})
	if n != 3 || !errors.Is(err, shmbuf.ErrTooLarge) {
		t.Fatalf("WriteBatch: %d, %v; want 3, ErrTooLarge", n, err)
	}
	if n, err := w.WriteBatch([][]byte{[]byte("d")}); n != 1 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", n, err)
	}
	w.Close()
	m, err := rd.TryReadBatch(out)
	if err != nil || m != 3 || string(out[0]) != "a" || string(out[1]) != "bc" || string(out[2]) != "d" {
		t.Fatalf("ReadBatch: %d %q, %v; want a, bc, d", m, out[:m], err)
	}
	if m, err := rd.ReadBatch(context.Background(), out); m != 0 || err != io.EOF {
		t.Fatalf("ReadBatch at the end: %d, %v; want 0, io.EOF", m, err)
	}
}

// TestRingBatch_ZeroAllocs: a batch written and read allocates nothing,
// under either policy (once the overwrite reader's buffer has grown).
func TestRingBatch_ZeroAllocs(t *testing.T) {
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			r, _ := newRing(t, shmbuf.RingOptions{Size: 1 << 20, MaxRecord: 256, Policy: pol})
			rd, err := r.NewReader(shmbuf.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := r.NewWriter(shmbuf.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			recs := make([][]byte, 64)
			for i := range recs {
				recs[i] = make([]byte, 64)
			}
			out := make([][]byte, 64)
			ctx := context.Background()
			round := func() {
				if n, err := w.WriteBatch(recs); err != nil || n != len(recs) {
					t.Fatalf("WriteBatch: %d, %v", n, err)
				}
				for got := 0; got < len(recs); {
					m, err := rd.ReadBatch(ctx, out)
					if err != nil {
						t.Fatalf("ReadBatch: %v", err)
					}
					got += m
				}
			}
			round()
			if a := testing.AllocsPerRun(200, round); a != 0 {
				t.Errorf("%v allocations per batch written and read, want 0", a)
			}
		})
	}
}

// TestRingBatch_WriterKilledMidBatch kills a batch writer with SIGKILL at
// random moments while a reader keeps up with it: the stream must end with
// ErrWriterLost (the reaper turns an unfinished batch into padding), never
// hang at a record of a batch half published, and every record before the
// end is whole and in order.
func TestRingBatch_WriterKilledMidBatch(t *testing.T) {
	t.Parallel()
	const maxLen = 120
	// Each kill lands mid-batch (a batch is 512 records): 8 kills, at 5 to
	// 96 ms, by default; SHMBUF_LONG=1 makes 64.
	for i := range testenv.ShortOrLong(8, 64) {
		r, addr := newRing(t, shmbuf.RingOptions{Size: 1 << 20, MaxRecord: maxLen})
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := startChild(t, "ring-batch-writer", "ready", "RING_ADDR="+addr, "RING_N=-1",
			fmt.Sprint("RING_MAXLEN=", maxLen), "RING_BATCH=512")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		go func() {
			time.Sleep(time.Duration(5+i%8*13) * time.Millisecond)
			p.Signal(syscall.SIGKILL)
		}()
		recs := make([][]byte, 256)
		var seq uint64
		for {
			n, err := rd.ReadBatch(ctx, recs)
			if err != nil {
				if !errors.Is(err, shmbuf.ErrWriterLost) {
					t.Fatalf("kill %d, after %d records: %v, want ErrWriterLost", i, seq, err)
				}
				break
			}
			for _, rec := range recs[:n] {
				_, s, err := checkRec(rec)
				if err != nil || s != seq {
					t.Fatalf("kill %d, record %d: seq %d, %v", i, seq, s, err)
				}
				seq++
			}
		}
		cancel()
		p.Wait()
		rd.Close()
		t.Logf("kill %d: %d records, then the writer's loss", i, seq)
	}
}

// waitNamed is the wait strategy whose String is name (WaitAdaptive for
// any other name): how a child learns its strategy from the environment.
func waitNamed(name string) shmbuf.WaitStrategy {
	for w := shmbuf.WaitAdaptive; w <= shmbuf.WaitBlock; w++ {
		if w.String() == name {
			return w
		}
	}
	return shmbuf.WaitAdaptive
}
