package shmbuf_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Soak suite: many writers and readers in separate processes for a while:
// soakFor() is 500 ms by default (half a million records through the
// block ring, thousands of losses reported to the slow reader), 60 s with
// SHMBUF_LONG=1.

func soakFor() time.Duration { return testenv.ShortOrLong(500*time.Millisecond, 60*time.Second) }

const soakMaxLen = 256

func init() {
	childRoles["soak-writer"] = soakWriter
	childRoles["soak-reader"] = soakReader
}

// soakWriter writes checksummed records as writer SOAK_W for SOAK_FOR,
// closes, and prints how many it wrote.
func soakWriter() int {
	r, err := shmbuf.OpenRing(os.Getenv("SOAK_ADDR"))
	if err != nil {
		return childFail("%v", err)
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	d, _ := time.ParseDuration(os.Getenv("SOAK_FOR"))
	id := uint32(envInt("SOAK_W", 0))
	buf := make([]byte, soakMaxLen)
	deadline := time.Now().Add(d)
	var seq uint64
	for ; seq%256 != 0 || time.Now().Before(deadline); seq++ {
		b := buf[:recLen(seq, soakMaxLen)]
		fillRec(b, id, seq)
		if _, err := w.Write(b); err != nil {
			return childFail("writer %d: %v", id, err)
		}
	}
	if err := w.Close(); err != nil {
		return childFail("%v", err)
	}
	fmt.Println(seq)
	return 0
}

// soakReader attaches, prints "ready", reads to the end of the stream
// checking every record and each writer's order, then prints the count of
// records per writer ("w1=N w2=N …").
func soakReader() int {
	r, err := shmbuf.OpenRing(os.Getenv("SOAK_ADDR"))
	if err != nil {
		return childFail("%v", err)
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	next := map[uint32]uint64{}
	for {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return childFail("reader: %v", err)
		}
		w, seq, err := checkRec(rec)
		if err != nil {
			return childFail("reader: %v", err)
		}
		if seq != next[w] {
			return childFail("reader: writer %d: seq %d, want %d (lost, duplicated or reordered)", w, seq, next[w])
		}
		next[w]++
	}
	var parts []string
	for w := uint32(1); w <= 4; w++ {
		parts = append(parts, fmt.Sprintf("w%d=%d", w, next[w]))
	}
	fmt.Println(strings.Join(parts, " "))
	return 0
}

// TestSoak_FourWritersThreeReadersBlock: under policy block nothing is
// lost, duplicated or reordered, whatever the interleaving.
func TestSoak_FourWritersThreeReadersBlock(t *testing.T) {
	r, addr := newRing(t, shmbuf.RingOptions{Size: 64 << 10, MaxRecord: soakMaxLen})
	_ = r
	var readers []*bufio.Reader
	var readerProcs []*os.Process
	for range 3 {
		p, out := startChild(t, "soak-reader", "ready", "SOAK_ADDR="+addr)
		readers, readerProcs = append(readers, out), append(readerProcs, p)
	}
	var writers []*bufio.Reader
	var writerProcs []*os.Process
	for w := 1; w <= 4; w++ {
		p, out := startChild(t, "soak-writer", "", "SOAK_ADDR="+addr, fmt.Sprint("SOAK_W=", w), "SOAK_FOR="+soakFor().String())
		writers, writerProcs = append(writers, out), append(writerProcs, p)
	}
	var want []string
	var total uint64
	for i, out := range writers {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("writer %d: %v", i+1, err)
		}
		var n uint64
		fmt.Sscan(line, &n)
		total += n
		want = append(want, fmt.Sprintf("w%d=%d", i+1, n))
		writerProcs[i].Wait()
	}
	wantLine := strings.Join(want, " ") + "\n"
	for i, out := range readers {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("reader %d: %v", i+1, err)
		}
		if line != wantLine {
			t.Fatalf("reader %d received %q, writers wrote %q", i+1, line, wantLine)
		}
		readerProcs[i].Wait()
	}
	t.Logf("%v: 4 writers wrote %d records (%s); each of 3 readers received all, in per-writer order, none lost or duplicated",
		soakFor(), total, strings.TrimSpace(wantLine))
}

// TestSoak_OverwriteSlowReader: a reader that falls behind an overwrite
// ring is told of every loss, and each reported loss equals the gap in
// the sequence exactly, in records and in bytes. It reads with the
// zero-copy NextInPlace and Verify (Next's verified copies are covered by
// TestRing_OverwriteNextDeliversOnlyWrittenRecords).
func TestSoak_OverwriteSlowReader(t *testing.T) {
	r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10, MaxRecord: soakMaxLen, Policy: shmbuf.PolicyOverwrite})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	p, out := startChild(t, "soak-writer", "", "SOAK_ADDR="+addr, "SOAK_W=1", "SOAK_FOR="+soakFor().String())
	ctx, cancel := context.WithTimeout(context.Background(), soakFor()+time.Minute)
	defer cancel()
	var next, received, lostRecs, losses uint64
	var pending *shmbuf.LostError
	// addLoss accumulates reported losses until the next intact record: a
	// fast writer may lap the reader again before it reads the record it
	// resumed at, and a record overwritten while being checked is lost too.
	addLoss := func(le *shmbuf.LostError) {
		if pending == nil {
			pending = &shmbuf.LostError{}
		}
		pending.Records += le.Records
		pending.Bytes += le.Bytes
		losses++
	}
	for {
		rec, err := rd.NextInPlace(ctx)
		if err == io.EOF {
			break
		}
		if le, ok := isLost(err); ok {
			addLoss(le)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_, seq, cerr := checkRec(rec)
		if verr := rd.Verify(); verr != nil {
			// Overwritten while we checked it: whatever checkRec said
			// does not count, and the record is part of the next loss.
			le, ok := isLost(verr)
			if !ok {
				t.Fatal(verr)
			}
			addLoss(le)
			continue
		}
		if cerr != nil {
			t.Fatalf("an intact record failed its checksum: %v", cerr)
		}
		if seq != next {
			if pending == nil {
				t.Fatalf("seq %d, want %d, and no loss was reported", seq, next)
			}
			var gapBytes uint64
			for s := next; s < seq; s++ {
				gapBytes += uint64(recLen(s, soakMaxLen))
			}
			if pending.Records != seq-next || pending.Bytes != gapBytes {
				t.Fatalf("loss reported as %d records, %d bytes; the gap is %d records, %d bytes",
					pending.Records, pending.Bytes, seq-next, gapBytes)
			}
			lostRecs += pending.Records
		} else if pending != nil && pending.Records != 0 {
			t.Fatalf("loss of %d records reported, but no gap before seq %d", pending.Records, seq)
		}
		pending = nil
		next = seq + 1
		received++
		if received%512 == 0 {
			time.Sleep(time.Millisecond) // the slow reader
		}
	}
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	var wrote uint64
	fmt.Sscan(line, &wrote)
	if received+lostRecs != wrote {
		t.Fatalf("received %d + lost %d != written %d", received, lostRecs, wrote)
	}
	if losses == 0 {
		t.Fatal("the slow reader was never lapped: the test did not exercise overwrite")
	}
	t.Logf("%v: writer wrote %d; slow reader received %d, was told of %d losses totalling %d records, each equal to its gap",
		soakFor(), wrote, received, losses, lostRecs)
}
