package shmbuf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

func init() {
	childRoles["ring-lines-writer"] = ringLinesWriterChild
}

// ringLinesWriterChild writes the lines "1\n" to "RING_N\n", one record
// each, like `seq 1 N | shmbuf write`, then closes.
func ringLinesWriterChild() int {
	r, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	n := envInt("RING_N", 1000)
	var line []byte
	for i := 1; i <= n; i++ {
		line = strconv.AppendInt(line[:0], int64(i), 10)
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			return childFail("writer: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		return childFail("%v", err)
	}
	return 0
}

// lineChecker checks a stream of numbered lines ("1\n", "2\n", …) as a
// lapped reader receives them: every line delivered must be one that was
// written (digits and a newline, nothing spliced in), in increasing order
// without duplicates, and every gap must be exactly the loss reported
// before the line that ends it.
type lineChecker struct {
	t                   *testing.T
	last                uint64 // the last line delivered (0: none yet)
	delivered, lost     uint64
	pendingLoss, losses uint64
	bad                 int
}

func (c *lineChecker) loss(records uint64) {
	c.pendingLoss += records
	c.lost += records
	c.losses++
}

func (c *lineChecker) line(rec []byte) {
	c.t.Helper()
	v, err := strconv.ParseUint(string(bytes.TrimSuffix(rec, []byte("\n"))), 10, 64)
	switch {
	case err != nil || len(rec) < 2 || rec[len(rec)-1] != '\n' || rec[0] == '0':
		c.fail("record %q after line %d is not a line that was written", rec, c.last)
	case v <= c.last:
		c.fail("line %d after line %d: duplicated or out of order", v, c.last)
	case v-c.last-1 != c.pendingLoss:
		c.fail("line %d after line %d: the gap is %d lines, the reported loss %d", v, c.last, v-c.last-1, c.pendingLoss)
	}
	if err == nil && v > c.last {
		c.last = v
	}
	c.pendingLoss = 0
	c.delivered++
}

func (c *lineChecker) fail(format string, args ...any) {
	c.t.Helper()
	if c.bad++; c.bad <= 10 {
		c.t.Errorf(format, args...)
	}
}

// done checks the totals against the n lines written.
func (c *lineChecker) done(n uint64) {
	c.t.Helper()
	if c.bad > 10 {
		c.t.Errorf("... %d bad lines in all", c.bad)
	}
	if c.delivered+c.lost != n || c.last+c.pendingLoss != n {
		c.t.Errorf("delivered %d + lost %d = %d lines, last line %d, loss after it %d; %d were written",
			c.delivered, c.lost, c.delivered+c.lost, c.last, c.pendingLoss, n)
	}
	if c.losses == 0 {
		c.t.Errorf("the slow reader was never lapped: the test did not exercise overwrite")
	}
	c.t.Logf("%d lines written: %d delivered, %d lost in %d losses, %d bad", n, c.delivered, c.lost, c.losses, c.bad)
}

// TestRing_OverwriteNextDeliversOnlyWrittenRecords: a reader of an
// overwrite ring that is slow to use the records Next returns (it sleeps
// between Next and looking at the record, as a program writing to a slow
// pipe does) still sees only records that were written, whole, in order,
// with every overwritten one reported as lost.
func TestRing_OverwriteNextDeliversOnlyWrittenRecords(t *testing.T) {
	const n = 200000
	r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10, Policy: shmbuf.PolicyOverwrite})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	w := childCmd(t, "ring-lines-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := &lineChecker{t: t}
	for i := 0; ; i++ {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if le, ok := isLost(err); ok {
			c.loss(le.Records)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%16 == 0 {
			time.Sleep(20 * time.Microsecond) // the slow reader
		}
		c.line(rec)
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	c.done(n)
}

// TestRing_PayloadNeverPassesForAHeader: a payload whose bytes, at the
// place where a later record's header will go, hold what that header's
// stamp would be (here the 8-byte position plus one, a value a stream of
// offsets or counters may well carry) is never taken for a published
// record by a reader waiting there.
func TestRing_PayloadNeverPassesForAHeader(t *testing.T) {
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			r, _ := newRing(t, shmbuf.RingOptions{Size: 256, MaxRecord: 64, Policy: pol})
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
			defer w.Close()
			// Four records of 48 bytes fill the first lap ([0,64) …
			// [192,256)). The first one's payload starts at 16; its bytes
			// at ring offset 24 are what a record at position 280 (one lap
			// and 24 bytes on) would have as its stamp, followed by a
			// plausible length.
			first := make([]byte, 48)
			binary.LittleEndian.PutUint64(first[8:], 280+1)
			binary.LittleEndian.PutUint32(first[16:], 5)
			for i := range 4 {
				rec := first
				if i > 0 {
					rec = bytes.Repeat([]byte{byte('a' + i)}, 48)
				}
				if _, err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			drain := func() (n int) {
				for {
					_, err := rd.TryNext()
					if errors.Is(err, shmbuf.ErrEmpty) {
						return n
					}
					if err != nil {
						t.Fatal(err)
					}
					n++
				}
			}
			if n := drain(); n != 4 {
				t.Fatalf("read %d records of the first lap, want 4", n)
			}
			// The next record takes [256,280); the reader then waits at
			// 280, over the first record's payload.
			if _, err := w.Write([]byte("12345678")); err != nil {
				t.Fatal(err)
			}
			rec, err := rd.TryNext()
			if err != nil || string(rec) != "12345678" {
				t.Fatalf("record at 256: %q, %v", rec, err)
			}
			if rec, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
				t.Fatalf("at 280, where nothing was written: %q, %v; want ErrEmpty", rec, err)
			}
		})
	}
}
