package shmbuf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// Retention: reading never removes a record; under policy block a writer
// reuses a record's space only once some reader has read it and no live
// reader still needs it.

func init() {
	childRoles["ring-churn-reader"] = ringChurnReaderChild
	childRoles["ring-read-some"] = ringReadSomeChild
}

// fillUntilBlocked writes records of writer 0 from seq until the ring has
// no space, and returns the next seq. No space is a write that waits
// three liveness ticks of the test binary: long enough for the writer's
// own checks (reaping, the walk token) to run and free any space they
// wrongly would.
func fillUntilBlocked(t *testing.T, w *shmbuf.Writer, seq uint64) uint64 {
	t.Helper()
	buf := make([]byte, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 3*shmbuf.TestCheckEvery)
	defer cancel()
	for ; ; seq++ {
		fillRec(buf, 0, seq)
		if _, err := w.WriteContext(ctx, buf); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			return seq
		}
	}
}

// readAll reads from a new reader at from until nothing more is ready,
// checks every record, and returns the sequence numbers read.
func readAll(t *testing.T, r *shmbuf.Ring, from shmbuf.StartPosition) []uint64 {
	t.Helper()
	rd, err := r.NewReader(shmbuf.ReaderOptions{From: from})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var seqs []uint64
	for {
		rec, err := rd.TryNext()
		if errors.Is(err, shmbuf.ErrEmpty) || err == io.EOF {
			return seqs
		}
		if err != nil {
			t.Fatal(err)
		}
		_, seq, err := checkRec(rec)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
}

// contiguous reports whether seqs run from first to last, one by one.
func contiguous(seqs []uint64, first, last uint64) bool {
	if len(seqs) == 0 || seqs[0] != first || seqs[len(seqs)-1] != last {
		return false
	}
	for i, s := range seqs {
		if s != first+uint64(i) {
			return false
		}
	}
	return true
}

// TestRing_ReadingRetains: a reader that read every record and closed
// removed nothing: the next reader from the oldest record reads them all
// again, also after the writer closed, and again after that.
func TestRing_ReadingRetains(t *testing.T) {
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, Policy: pol})
			w, _ := r.NewWriter(shmbuf.WriterOptions{})
			buf := make([]byte, 50)
			for seq := range uint64(10) {
				fillRec(buf, 0, seq)
				if _, err := w.Write(buf); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				if got := readAll(t, r, shmbuf.FromOldest); !contiguous(got, 0, 9) {
					t.Fatalf("read %d while the writer is attached: %v, want 0..9", i, got)
				}
			}
			w.Close()
			for i := range 2 {
				if got := readAll(t, r, shmbuf.FromOldest); !contiguous(got, 0, 9) {
					t.Fatalf("read %d after the writer closed: %v, want 0..9", i, got)
				}
			}
			st, err := r.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if st.Head != 0 || st.Fill != st.Tail {
				t.Errorf("Stat: head %d fill %d tail %d; want head 0 and the whole stream held", st.Head, st.Fill, st.Tail)
			}
			if pol == shmbuf.PolicyBlock && st.ReadMark != st.Tail {
				t.Errorf("Stat: read mark %d, want the tail %d: every record was read", st.ReadMark, st.Tail)
			}
		})
	}
}

// TestRing_UnreadNeverOverwritten: under policy block a writer with no
// reader fills the ring and waits, and a reader attached from the latest
// record, having read none of the records before it, does not let the
// writer overwrite them, even once it has read what came after. A reader
// that reads them from the oldest does.
func TestRing_UnreadNeverOverwritten(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	defer w.Close()
	n := fillUntilBlocked(t, w, 0)
	latest, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromLatest})
	if err != nil {
		t.Fatal(err)
	}
	if more := fillUntilBlocked(t, w, n); more != n {
		t.Fatalf("the writer wrote %d more records over records nobody read", more-n)
	}
	latest.Close()
	if more := fillUntilBlocked(t, w, n); more != n {
		t.Fatalf("after the from-latest reader closed, the writer wrote %d more records over records nobody read", more-n)
	}
	// A reader from the oldest record gets every one, then frees them.
	if got := readAll(t, r, shmbuf.FromOldest); !contiguous(got, 0, n-1) {
		t.Fatalf("oldest reader: %v, want 0..%d", got, n-1)
	}
	more := fillUntilBlocked(t, w, n)
	if more < n+n/2 {
		t.Fatalf("after every record was read the writer wrote only %d of about %d more", more-n, n)
	}
	// The ring keeps what it could: the newest records, contiguous.
	got := readAll(t, r, shmbuf.FromOldest)
	if len(got) == 0 || !contiguous(got, got[0], more-1) {
		t.Fatalf("retained records %v, want a contiguous run ending at %d", got, more-1)
	}
}

// TestRing_ReadRecordsReused: records read by a reader that closed become
// reusable; a from-latest reader attached meanwhile, once the records
// before its start were read by another, lets them go too. What is reused
// is always the oldest, a whole record at a time: a new reader from the
// oldest record reads an intact, contiguous run up to the newest.
func TestRing_ReadRecordsReused(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	defer w.Close()
	seq := fillUntilBlocked(t, w, 0)
	for round := range 5 {
		latest, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromLatest})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r, shmbuf.FromOldest)
		if len(got) == 0 || got[len(got)-1] != seq-1 || !contiguous(got, got[0], seq-1) {
			t.Fatalf("round %d: retained %v, want a contiguous run ending at %d", round, got, seq-1)
		}
		next := fillUntilBlocked(t, w, seq)
		if next == seq {
			t.Fatalf("round %d: the writer reused nothing after every record was read", round)
		}
		// The from-latest reader has not read what came since: the
		// writer fills the ring again, then waits for it.
		if more := fillUntilBlocked(t, w, next); more != next {
			t.Fatalf("round %d: %d records written over unread ones", round, more-next)
		}
		for i := seq; i < next; i++ {
			rec, err := latest.TryNext()
			if err != nil {
				t.Fatalf("round %d: from-latest reader: %v", round, err)
			}
			if _, s, err := checkRec(rec); err != nil || s != i {
				t.Fatalf("round %d: from-latest reader got seq %d, %v; want %d", round, s, err, i)
			}
		}
		latest.Close()
		seq = next
	}
}

// TestRing_NextAfterEndWaits: a call after io.EOF waits for the next
// stream (as the wait strategy says, until ctx ends) instead of reporting
// the same end again; TryNext says nothing is ready; the first record of
// the next stream ends the wait.
func TestRing_NextAfterEndWaits(t *testing.T) {
	t.Parallel()
	for _, wait := range []shmbuf.WaitStrategy{shmbuf.WaitSpin, shmbuf.WaitAdaptive, shmbuf.WaitBlock} {
		t.Run(wait.String(), func(t *testing.T) {
			r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
			rd, _ := r.NewReader(shmbuf.ReaderOptions{Wait: wait})
			w, _ := r.NewWriter(shmbuf.WriterOptions{})
			w.Write([]byte("a"))
			w.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if rec, err := rd.Next(ctx); err != nil || string(rec) != "a" {
				t.Fatalf("first record: %q, %v", rec, err)
			}
			if _, err := rd.Next(ctx); err != io.EOF {
				t.Fatalf("end of the first stream: %v, want io.EOF", err)
			}
			short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := rd.Next(short)
			cancelShort()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next after io.EOF with no writer: %v, want it to wait until its context ends", err)
			}
			if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
				t.Fatalf("TryNext after io.EOF: %v, want ErrEmpty", err)
			}
			// A writer that attaches and closes without writing starts no
			// stream worth reporting.
			w2, _ := r.NewWriter(shmbuf.WriterOptions{})
			w2.Close()
			got := make(chan error, 1)
			var rec []byte
			go func() {
				var err error
				rec, err = rd.Next(ctx)
				got <- err
			}()
			time.Sleep(50 * time.Millisecond)
			w3, _ := r.NewWriter(shmbuf.WriterOptions{})
			w3.Write([]byte("b"))
			if err := <-got; err != nil || string(rec) != "b" {
				t.Fatalf("first record of the next stream: %q, %v", rec, err)
			}
			w3.Close()
			if _, err := rd.Next(ctx); err != io.EOF {
				t.Fatalf("end of the second stream: %v, want io.EOF", err)
			}
		})
	}
}

// ringChurnReaderChild attaches a reader, from the oldest or the latest
// record at random, reads a random number of records, closes, and again,
// until it reads the end of the stream. Every record must be intact and
// each writer's records must follow one another from the first one the
// reader got: a writer that reused space a live reader still needed would
// make it read a torn record, skip records, or wait for ever at a
// position overwritten by a later lap (the context then ends it). It
// prints "ATTACHES RECORDS".
func ringChurnReaderChild() int {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	attaches, records := 0, 0
	for ended := false; !ended; attaches++ {
		from := shmbuf.FromOldest
		if rng.IntN(3) == 0 {
			from = shmbuf.FromLatest
		}
		wait := shmbuf.WaitStrategy(rng.IntN(3))
		rd, err := r.NewReader(shmbuf.ReaderOptions{From: from, Wait: wait})
		if err != nil {
			return childFail("attach %d: %v", attaches, err)
		}
		next := map[uint32]uint64{}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for k := 1 + rng.IntN(150); k > 0; k-- {
			rec, err := rd.Next(ctx)
			if err == io.EOF {
				ended = true
				break
			}
			if err != nil {
				cancel()
				return childFail("attach %d (%v): after %d records: %v", attaches, from, len(next), err)
			}
			w, seq, err := checkRec(rec)
			if err != nil {
				cancel()
				return childFail("attach %d (%v): %v", attaches, from, err)
			}
			if want, ok := next[w]; ok && seq != want {
				cancel()
				return childFail("attach %d (%v): writer %d: seq %d, want %d", attaches, from, w, seq, want)
			}
			next[w] = seq + 1
			records++
		}
		cancel()
		if err := rd.Close(); err != nil {
			return childFail("close: %v", err)
		}
	}
	fmt.Println(attaches, records)
	return 0
}

// TestRing_RetentionUnderChurn: two writer processes stream checksummed,
// numbered records through a small ring, read whole by one steady reader
// process, while three reader processes attach (from the oldest or the
// latest record), read a few records and close, over and over. No reader
// ever gets a torn record or a gap in a writer's sequence from where it
// started, and the stream ends: the gate never hands out space a live
// reader still needs, and never waits for ever.
func TestRing_RetentionUnderChurn(t *testing.T) {
	const n, maxLen = 3000, 200
	for _, backend := range []string{"posix", "sysv"} {
		t.Run(backend, func(t *testing.T) {
			addr := uniqueName(t)
			if backend == "sysv" {
				addr = fmt.Sprintf("sysv:0x%08x", 0x5d000000|uint32(os.Getpid()&0xffff)<<8|uint32(nextID()&0xff))
			}
			r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096, MaxRecord: maxLen, Readers: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
			// Our writer keeps the stream open until both children
			// attached; they cannot finish before that, since nobody
			// reads yet (see TestRing_ThreeWriters).
			hold, _ := r.NewWriter(shmbuf.WriterOptions{})
			var wg sync.WaitGroup
			var cmds []*exec.Cmd
			errs := make(chan error, 6)
			run := func(name string, cmd *exec.Cmd) {
				if err := cmd.Start(); err != nil {
					errs <- fmt.Errorf("%s: %v", name, err)
					return
				}
				cmds = append(cmds, cmd)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := cmd.Wait(); err != nil {
						errs <- fmt.Errorf("%s: %v", name, err)
					}
				}()
			}
			// No t.Fatal while children run: their cleanup would Wait
			// for them a second time.
			stop := func(why string) {
				t.Error(why)
				for _, c := range cmds {
					c.Process.Kill()
				}
				wg.Wait()
			}
			for i := range 2 {
				cmd := childCmd(t, "ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_W=", i+1),
					fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen))
				run(fmt.Sprintf("writer %d", i+1), cmd)
			}
			if !within(10*time.Second, func() bool { st, _ := r.Stat(); return len(st.Writers) == 3 }) {
				stop("the writers did not attach within 10s")
				return
			}
			hold.Close()
			// One reader reads every record from the start: with none,
			// the churning readers could all be from-latest ones above
			// records nobody read, which writers rightly wait for.
			steady := childCmd(t, "ring-reader", "RING_ADDR="+addr)
			steadyOut := new(bytes.Buffer)
			steady.Stdout = steadyOut
			run("steady reader", steady)
			if !within(10*time.Second, func() bool { st, _ := r.Stat(); return len(st.Readers) == 1 }) {
				stop("the steady reader did not attach within 10s")
				return
			}
			outs := make([]*bytes.Buffer, 3)
			for i := range outs {
				cmd := childCmd(t, "ring-churn-reader", "RING_ADDR="+addr)
				outs[i] = new(bytes.Buffer)
				cmd.Stdout = outs[i]
				run(fmt.Sprintf("reader %d", i), cmd)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for i, o := range outs {
				var attaches, records int
				if _, err := fmt.Sscan(strings.TrimSpace(o.String()), &attaches, &records); err != nil {
					t.Errorf("reader %d: output %q", i, o.String())
					continue
				}
				t.Logf("reader %d: %d attaches, %d records", i, attaches, records)
			}
			if got, _, _ := strings.Cut(steadyOut.String(), " "); got != fmt.Sprint(2*n) {
				t.Errorf("steady reader: %q, want %d records", steadyOut.String(), 2*n)
			}
			st, _ := r.Stat()
			if st.Records != 2*n {
				t.Errorf("Stat: %d records written, want %d", st.Records, 2*n)
			}
			// Everything read, every reader gone: the ring still holds the
			// newest records, whole, up to the last one written.
			last := map[uint32]uint64{}
			rd, _ := r.NewReader(shmbuf.ReaderOptions{})
			defer rd.Close()
			for {
				rec, err := rd.TryNext()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("replay: %v", err)
				}
				w, seq, err := checkRec(rec)
				if err != nil {
					t.Fatalf("replay: %v", err)
				}
				if prev, ok := last[w]; ok && seq != prev+1 {
					t.Fatalf("replay: writer %d: seq %d after %d", w, seq, prev)
				}
				last[w] = seq
			}
			if (last[1] != n-1 && last[2] != n-1) || st.Fill < uint64(st.Capacity)/2 {
				t.Errorf("replay after the stream: last records %v, %d bytes held; want the last writer's last (%d) and at least half the ring", last, st.Fill, n-1)
			}
		})
	}
}

// ringReadSomeChild reads RING_N records from the oldest, prints "read",
// and closes the ring.
func ringReadSomeChild() int {
	r, rd, err := childReader(shmbuf.ReaderOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	for range envInt("RING_N", 1) {
		if _, err := rd.TryNext(); err != nil {
			return childFail("%v", err)
		}
	}
	fmt.Println("read")
	return 0
}

// TestRing_BlockedWriterResumesWhenReaderLeaves: a writer asleep on a full
// ring (policy block) whose only reader reads a few records, fewer than it
// publishes its cursor for, and closes (in this process, or in another
// that then exits) wakes and writes into the space of those records:
// closing a reader makes what it read reusable, and tells the writer.
func TestRing_BlockedWriterResumesWhenReaderLeaves(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"here", "child"} {
		t.Run(where, func(t *testing.T) {
			r, addr := newRing(t, shmbuf.RingOptions{Size: 4096})
			w, _ := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
			defer w.Close()
			n := fillUntilBlocked(t, w, 0)
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				buf := make([]byte, 100)
				fillRec(buf, 0, n)
				_, err := w.WriteContext(ctx, buf)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // let it fall asleep, usually
			if where == "here" {
				rd, err := r.NewReader(shmbuf.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for range 3 {
					if _, err := rd.TryNext(); err != nil {
						t.Fatal(err)
					}
				}
				rd.Close()
			} else {
				out, err := childCmd(t, "ring-read-some", "RING_ADDR="+addr, "RING_N=3").Output()
				if err != nil || string(out) != "read\n" {
					t.Fatalf("reader child: %q, %v", out, err)
				}
			}
			if err := <-done; err != nil {
				t.Fatalf("the blocked writer, after the reader read 3 records and left: %v", err)
			}
			got := readAll(t, r, shmbuf.FromOldest)
			if len(got) == 0 || !contiguous(got, got[0], n) || got[0] > 3 {
				t.Fatalf("retained %v, want the records from at most 3 up to %d", got, n)
			}
		})
	}
}

// within polls cond every millisecond for up to d and reports whether it
// became true.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
