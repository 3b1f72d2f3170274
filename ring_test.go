package shmbuf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

func TestRing_OneWriterThreeReaders(t *testing.T) {
	// 5000 records lap the 16 KiB ring some fifty times.
	n, maxLen := testenv.ShortOrLong[uint64](5000, 20000), 300
	r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10})
	var outs []*childOut
	for i, wait := range []string{"spin", "adaptive", "block"} {
		cmd := childCmd(t, "ring-reader", "RING_ADDR="+addr, "RING_WAIT="+wait)
		o := &childOut{}
		cmd.Stdout = &o.buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		o.cmd = cmd.Wait
		outs = append(outs, o)
		waitFor(t, 10*time.Second, fmt.Sprintf("reader %d to attach", i), func() bool {
			st, _ := r.Stat()
			return len(st.Readers) == i+1
		})
	}
	w := childCmd(t, "ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen))
	if err := w.Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	want := fmt.Sprintf("%d %s\n", n, streamHash(0, n, maxLen))
	for i, o := range outs {
		if err := o.cmd(); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		if got := o.buf.String(); got != want {
			t.Errorf("reader %d: got %q, want %q", i, got, want)
		}
	}
}

type childOut struct {
	buf bytes.Buffer
	cmd func() error
}

func TestRing_ThreeWriters(t *testing.T) {
	const n, maxLen = 5000, 120
	r, addr := newRing(t, shmbuf.RingOptions{Size: 8 << 10})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A writer of our own keeps the stream open until all three started,
	// so that an early finisher's Close does not end it.
	hold, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		cmd := childCmd(t, "ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_W=", i+1),
			fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				errs <- fmt.Errorf("writer %d: %v", i+1, err)
			}
		}()
	}
	// Every writer must attach before the holder leaves: otherwise an
	// early writer's Close can end the stream while a late one has not
	// attached. The ring is far smaller than what each writes and nobody
	// reads yet, so no writer can finish (and detach) before all attach.
	waitFor(t, 10*time.Second, "writers to attach", func() bool {
		st, _ := r.Stat()
		return len(st.Writers) == 4
	})
	hold.Close()
	next := map[uint32]uint64{}
	total := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			t.Fatalf("end of stream after %d of %d records", total, 3*n)
		}
		if err != nil {
			t.Fatal(err)
		}
		w, seq, err := checkRec(rec)
		if err != nil {
			t.Fatal(err)
		}
		if seq != next[w] {
			t.Fatalf("writer %d: seq %d after %d", w, seq, next[w])
		}
		next[w]++
		total++
		if total == 3*n {
			break
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := uint32(1); i <= 3; i++ {
		if next[i] != n {
			t.Errorf("writer %d: read %d records, want %d", i, next[i], n)
		}
	}
}

func TestRing_OverwriteLossIsExact(t *testing.T) {
	const n, maxLen = 5000, 150
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4 << 10, Policy: shmbuf.PolicyOverwrite})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the stream open so the child's Close does not end it before
	// the stalled reader resumes.
	hold, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := childCmd(t, "ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen))
	if err := w.Run(); err != nil { // the reader stalls meanwhile
		t.Fatalf("writer: %v", err)
	}
	hold.Close()
	var expect uint64
	var lostEvents, lostRecs uint64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if le, ok := isLost(err); ok {
			if !errors.Is(err, shmbuf.ErrOverrun) {
				t.Fatalf("LostError %v is not ErrOverrun", err)
			}
			// Like every error of the package, it is an *Error naming
			// the operation and the ring.
			var se *shmbuf.Error
			if !errors.As(err, &se) || se.Op != "read" || se.Addr != "posix:"+addr {
				t.Fatalf("loss %v (%T) is not a *shmbuf.Error of read %s", err, err, addr)
			}
			checkOneLine(t, err, addr)
			// The loss must equal the gap: peek at the next record.
			rec, err = rd.Next(ctx)
			if err != nil {
				t.Fatalf("after loss: %v", err)
			}
			_, seq, cerr := checkRec(rec)
			if cerr != nil {
				t.Fatal(cerr)
			}
			var bytesGap uint64
			for s := expect; s < seq; s++ {
				bytesGap += uint64(recLen(s, maxLen))
			}
			if le.Records != seq-expect || le.Bytes != bytesGap {
				t.Fatalf("lost %d records %d bytes, gap is %d records (%d..%d) %d bytes",
					le.Records, le.Bytes, seq-expect, expect, seq-1, bytesGap)
			}
			lostEvents++
			lostRecs += le.Records
			expect = seq
		} else if err != nil {
			t.Fatal(err)
		}
		_, seq, err := checkRec(rec)
		if err != nil {
			t.Fatal(err)
		}
		if seq != expect {
			t.Fatalf("seq %d, want %d", seq, expect)
		}
		expect++
	}
	if expect != n || lostEvents == 0 || lostRecs == 0 {
		t.Fatalf("ended at seq %d of %d after %d loss events (%d records)", expect, n, lostEvents, lostRecs)
	}
	t.Logf("%d loss events, %d records lost of %d", lostEvents, lostRecs, n)
	st, _ := r.Stat()
	if st.Overruns == 0 {
		t.Errorf("Stat().Overruns = 0 after a loss")
	}
}

func TestRing_EndOfStreamAndSecondStream(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for stream, recs := range [][]string{{"a", "bb", "ccc"}, {"dd", "e"}} {
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range recs {
			if _, err := w.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for _, s := range recs {
			rec, err := rd.Next(ctx)
			if err != nil || string(rec) != s {
				t.Fatalf("stream %d: got %q, %v; want %q", stream, rec, err, s)
			}
		}
		if _, err := rd.Next(ctx); err != io.EOF {
			t.Fatalf("stream %d: after the last record got %v, want io.EOF", stream, err)
		}
	}
	st, _ := r.Stat()
	if st.Records != 5 || st.Bytes != 9 || st.Ended != "eof" {
		t.Errorf("Stat: records %d bytes %d ended %q; want 5, 9, eof", st.Records, st.Bytes, st.Ended)
	}
}

func TestRing_ReadAndWriteToAreByteStreams(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	rd2, _ := r.NewReader(shmbuf.ReaderOptions{})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	want := "hello\nbinary\x00\xff\nworld"
	for _, s := range strings.SplitAfter(want, "\n") {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	got, err := io.ReadAll(rd) // Read, in small pieces
	if err != nil || string(got) != want {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	var buf bytes.Buffer
	if n, err := io.Copy(&buf, rd2); err != nil || buf.String() != want || n != int64(len(want)) {
		t.Fatalf("io.Copy = %d %q, %v", n, buf.String(), err)
	}
}

func TestRing_ContextCancel(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	for _, wait := range []shmbuf.WaitStrategy{shmbuf.WaitSpin, shmbuf.WaitAdaptive, shmbuf.WaitBlock} {
		rd, err := r.NewReader(shmbuf.ReaderOptions{Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err = rd.Next(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v: Next = %v, want context.Canceled", wait, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%v: cancellation noticed after %v", wait, d)
		}
		rd.Close()
	}
	// A writer blocked on a full ring with no reader gives up at its
	// deadline.
	w, _ := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		_, err = w.WriteContext(ctx, make([]byte, 100))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked WriteContext = %v, want context.DeadlineExceeded", err)
	}
}

func TestRing_NoReaderFillsThenWaits(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	buf := make([]byte, 100)
	var written uint64
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	for ; ; written++ {
		fillRec(buf, 0, written)
		if _, err := w.WriteContext(ctx, buf); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	cancel()
	if written < 4096/128-1 {
		t.Fatalf("only %d records fit before blocking", written)
	}
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	done := make(chan error, 1)
	go func() {
		// The blocked writer resumes once the reader frees space.
		for i := written; i < written+100; i++ {
			fillRec(buf, 0, i)
			if _, err := w.Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- w.Close()
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	for seq := uint64(0); ; seq++ {
		rec, err := rd.Next(ctx2)
		if err == io.EOF {
			if seq != written+100 {
				t.Fatalf("EOF after %d records, want %d", seq, written+100)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, s, err := checkRec(rec); err != nil || s != seq {
			t.Fatalf("record %d: seq %d, %v", seq, s, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRing_FromLatest(t *testing.T) {
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, Policy: pol})
		w, _ := r.NewWriter(shmbuf.WriterOptions{})
		w.Write([]byte("old"))
		rd, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromLatest})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
			t.Fatalf("%v: TryNext on nothing new = %v, want ErrEmpty", pol, err)
		}
		w.Write([]byte("new"))
		if rec, err := rd.TryNext(); err != nil || string(rec) != "new" {
			t.Fatalf("%v: TryNext = %q, %v; want new", pol, rec, err)
		}
		old, _ := r.NewReader(shmbuf.ReaderOptions{})
		if rec, err := old.TryNext(); err != nil || string(rec) != "old" {
			t.Fatalf("%v: oldest reader got %q, %v", pol, rec, err)
		}
		w.Close()
	}
}

func TestRing_RecordTooLarge(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, MaxRecord: 1000})
	if r.MaxRecord() != 1000 || r.Capacity() != 4096 {
		t.Fatalf("MaxRecord %d Capacity %d", r.MaxRecord(), r.Capacity())
	}
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	defer w.Close()
	if n, err := w.Write(make([]byte, 1001)); !errors.Is(err, shmbuf.ErrTooLarge) || n != 0 {
		t.Fatalf("Write(1001) = %d, %v; want ErrTooLarge", n, err)
	}
	if _, err := w.Claim(1001); !errors.Is(err, shmbuf.ErrTooLarge) {
		t.Fatalf("Claim(1001) = %v", err)
	}
	if st, _ := r.Stat(); st.Tail != 0 {
		t.Fatalf("tail moved to %d: something was written", st.Tail)
	}
	if _, err := w.Write(make([]byte, 1000)); err != nil {
		t.Fatalf("Write(max) = %v", err)
	}
}

func TestRing_CreateOptions(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 1000}) // rounds up
	if r.Capacity() != 1024 || r.Policy() != shmbuf.PolicyBlock {
		t.Fatalf("capacity %d policy %v", r.Capacity(), r.Policy())
	}
	bad := []struct {
		opts shmbuf.RingOptions
		want error
	}{
		{shmbuf.RingOptions{Size: 4096, Readers: -1}, shmbuf.ErrInvalidArgument},
		{shmbuf.RingOptions{Size: 4096, Writers: -1}, shmbuf.ErrInvalidArgument},
		{shmbuf.RingOptions{Size: 4096, MaxRecord: -1}, shmbuf.ErrInvalidArgument},
		{shmbuf.RingOptions{Size: 4096, Policy: 7}, shmbuf.ErrInvalidArgument},
		{shmbuf.RingOptions{Size: 0}, shmbuf.ErrInvalidSize},
		{shmbuf.RingOptions{Size: 1024, MaxRecord: 600}, shmbuf.ErrInvalidSize}, // too small for one max record twice
	}
	for _, b := range bad {
		addr := uniqueName(t)
		r, err := shmbuf.CreateRing(addr, b.opts)
		if err == nil {
			r.Close()
			shmbuf.Remove(addr)
		}
		if !errors.Is(err, b.want) {
			t.Errorf("CreateRing(%+v) = %v, want %v", b.opts, err, b.want)
		}
	}
}

func TestRing_ReadersFull(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, Readers: 0}) // 0: the default, 16
	for i := range 16 {
		if _, err := r.NewReader(shmbuf.ReaderOptions{}); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	_, err := r.NewReader(shmbuf.ReaderOptions{})
	if !errors.Is(err, shmbuf.ErrReadersFull) || !strings.Contains(err.Error(), "16") {
		t.Fatalf("17th reader: %v; want ErrReadersFull naming the limit 16", err)
	}
}

func TestRing_WrongKind(t *testing.T) {
	_, addr := newRing(t, shmbuf.RingOptions{Size: 4096})
	if s, err := shmbuf.OpenSnapshot(addr); !errors.Is(err, shmbuf.ErrWrongKind) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenSnapshot(ring) = %v, want ErrWrongKind", err)
	}
	saddr := uniqueName(t)
	s, err := shmbuf.CreateSnapshot(saddr, shmbuf.CreateOptions{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); shmbuf.Remove(saddr) })
	if r, err := shmbuf.OpenRing(saddr); !errors.Is(err, shmbuf.ErrWrongKind) {
		if r != nil {
			r.Close()
		}
		t.Fatalf("OpenRing(snapshot) = %v, want ErrWrongKind", err)
	}
	if k, err := kindAt(addr); err != nil || k != shmbuf.KindRing {
		t.Fatalf("kind = %v, %v", k, err)
	}
}

func TestRing_Backends(t *testing.T) {
	addrs := []string{
		"file:" + t.TempDir() + "/ring",
		fmt.Sprintf("sysv:%d", 0x5b000000+int(nextID())+int(time.Now().UnixNano()%1000000)),
	}
	for _, addr := range addrs {
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096})
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		t.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
		w, _ := r.NewWriter(shmbuf.WriterOptions{})
		w.Write([]byte("over " + addr))
		w.Close()
		r2, err := shmbuf.OpenRing(addr)
		if err != nil {
			t.Fatalf("%s: open: %v", addr, err)
		}
		rd, _ := r2.NewReader(shmbuf.ReaderOptions{})
		rec, err := rd.TryNext()
		if err != nil || string(rec) != "over "+addr {
			t.Fatalf("%s: got %q, %v", addr, rec, err)
		}
		if _, err := rd.TryNext(); err != io.EOF {
			t.Fatalf("%s: after the record: %v, want io.EOF", addr, err)
		}
		r2.Close()
	}
}

func TestRing_ZeroAllocs(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 1 << 16})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	buf := make([]byte, 64)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(10000, func() {
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := rd.Next(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record, want 0", allocs)
	}
}

func TestRing_ClaimCommit(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	b, err := w.Claim(5)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, "zero!")
	if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
		t.Fatalf("uncommitted record visible: %v", err)
	}
	if _, err := w.Claim(3); !errors.Is(err, shmbuf.ErrInvalidArgument) {
		t.Fatalf("second Claim = %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if rec, err := rd.TryNext(); err != nil || string(rec) != "zero!" {
		t.Fatalf("got %q, %v", rec, err)
	}
	// A Claim abandoned by Close becomes padding; the stream ends after it.
	if _, err := w.Claim(10); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := rd.TryNext(); err != io.EOF {
		t.Fatalf("after an abandoned claim: %v, want io.EOF", err)
	}
}
