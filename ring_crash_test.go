package shmbuf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// The data area of a ring with one writer and one reader slot starts
// after the header (128), the control block (192) and two 64-byte slots.
const ringDataOff1x1 = 128 + 192 + 2*64

func TestRing_WriterCrash(t *testing.T) {
	t.Parallel()
	const maxLen = 200
	r, addr := newRing(t, shmbuf.RingOptions{Size: 16 << 10})
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startChild(t, "ring-writer", "ready", "RING_ADDR="+addr, "RING_N=-1", fmt.Sprint("RING_MAXLEN=", maxLen))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var killed time.Time
	var seq uint64
	for {
		rec, err := rd.Next(ctx)
		if err != nil {
			if !errors.Is(err, shmbuf.ErrWriterLost) {
				t.Fatalf("after %d records: %v, want ErrWriterLost", seq, err)
			}
			if killed.IsZero() {
				t.Fatal("ErrWriterLost before the writer was killed")
			}
			if d := time.Since(killed); d > noticeBound {
				t.Fatalf("writer loss noticed %v after kill -9, want within %v", d, noticeBound)
			} else {
				t.Logf("writer loss noticed %v after kill -9, %d records", d, seq)
			}
			break
		}
		_, s, err := checkRec(rec)
		if err != nil {
			t.Fatalf("record %d: %v", seq, err)
		}
		if s != seq {
			t.Fatalf("seq %d, want %d", s, seq)
		}
		seq++
		if seq == 20000 {
			if err := p.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.Wait()
			killed = time.Now()
		}
	}
	st, _ := r.Stat()
	if len(st.Writers) != 0 || st.Ended != "lost" {
		t.Errorf("Stat after the loss: writers %v ended %q", st.Writers, st.Ended)
	}
}

func TestRing_WriterDiedHoldingClaim(t *testing.T) {
	t.Parallel()
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4096})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	p, _ := startChild(t, "ring-claimer", "claimed", "RING_ADDR="+addr, "RING_N=5")
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Our records land behind the dead writer's unpublished claim.
	for i := range 3 {
		w.Write([]byte{'x', byte('0' + i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for seq := uint64(0); seq < 5; seq++ {
		rec, err := rd.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, s, err := checkRec(rec); err != nil || s != seq {
			t.Fatalf("claimer record %d: %v %d", seq, err, s)
		}
	}
	p.Signal(syscall.SIGKILL)
	p.Wait()
	killed := time.Now()
	for i := range 3 {
		rec, err := rd.Next(ctx)
		if err != nil || string(rec) != string([]byte{'x', byte('0' + i)}) {
			t.Fatalf("record %d after the dead claim: %q, %v", i, rec, err)
		}
	}
	if d := time.Since(killed); d > noticeBound {
		t.Fatalf("dead writer's claim skipped after %v, want within %v", d, noticeBound)
	}
	w.Close()
	if _, err := rd.Next(ctx); err != io.EOF {
		t.Fatalf("after the live writer closed: %v, want io.EOF", err)
	}
}

func TestRing_ReaderCrash(t *testing.T) {
	t.Parallel()
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4096})
	p, _ := startChild(t, "ring-stuck-reader", "attached", "RING_ADDR="+addr)
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	defer w.Close()
	// A live reader that keeps up: only the stuck one holds space. (With
	// no live reader left, writers would rightly wait for the next one.)
	live, _ := r.NewReader(shmbuf.ReaderOptions{})
	buf := make([]byte, 100)
	// Fill the ring: the stuck reader holds its space.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	for {
		if _, err := w.WriteContext(ctx, buf); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	cancel()
	for {
		if _, err := live.TryNext(); err != nil {
			break
		}
	}
	done := make(chan time.Time, 1)
	go func() {
		w.Write(buf) // blocks until the dead reader is reaped
		done <- time.Now()
	}()
	liveAfterReap(t, r, 2)
	select {
	case <-done:
		t.Fatal("writer did not wait for the live stuck reader")
	default:
	}
	p.Signal(syscall.SIGKILL)
	p.Wait()
	killed := time.Now()
	select {
	case at := <-done:
		if d := at.Sub(killed); d > noticeBound {
			t.Fatalf("writer resumed %v after the reader died, want within %v", d, noticeBound)
		} else {
			t.Logf("writer resumed %v after kill -9 of the reader", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writer still blocked 5s after the reader died")
	}
}

func TestRing_CorruptHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		off  int64
		want error
	}{
		{0, shmbuf.ErrNotShmbuf},  // magic
		{8, shmbuf.ErrVersion},    // version
		{12, shmbuf.ErrWrongKind}, // kind
		{40, shmbuf.ErrCorrupt},   // max record: checksum
	}
	for _, c := range cases {
		_, addr := newRing(t, shmbuf.RingOptions{Size: 4096})
		f, err := os.OpenFile("/dev/shm/"+addr, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte{0x5a}, c.off)
		f.Close()
		if r, err := shmbuf.OpenRing(addr); !errors.Is(err, c.want) {
			if r != nil {
				r.Close()
			}
			t.Errorf("byte %d flipped: OpenRing = %v, want %v", c.off, err, c.want)
		}
	}
}

func TestRing_CorruptRecordLength(t *testing.T) {
	t.Parallel()
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4096, Readers: 1, Writers: 1})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	w.Write([]byte("a record"))
	w.Close()
	f, err := os.OpenFile("/dev/shm/"+addr, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lenField [4]byte
	f.ReadAt(lenField[:], ringDataOff1x1+8)
	if binary.LittleEndian.Uint32(lenField[:]) != 8 {
		t.Fatalf("layout changed: length field reads %x", lenField)
	}
	for _, bad := range []uint32{0xfffffff0, 4000, 3000} {
		binary.LittleEndian.PutUint32(lenField[:], bad)
		f.WriteAt(lenField[:], ringDataOff1x1+8)
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrCorrupt) {
			t.Errorf("length %d: TryNext = %v, want ErrCorrupt", bad, err)
		}
		rd.Close()
	}
}

func TestRing_TruncatedUnderReader(t *testing.T) {
	t.Parallel()
	r, addr := newRing(t, shmbuf.RingOptions{Size: 64 << 10})
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	defer w.Close()
	rd, _ := r.NewReader(shmbuf.ReaderOptions{Wait: shmbuf.WaitBlock})
	w.Write([]byte("before"))
	if rec, err := rd.TryNext(); err != nil || string(rec) != "before" {
		t.Fatalf("got %q, %v", rec, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := rd.Next(context.Background()) // blocks: nothing to read
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := os.Truncate("/dev/shm/"+addr, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, shmbuf.ErrTruncated) {
			t.Fatalf("blocked Next after truncation = %v, want ErrTruncated", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked reader did not notice the truncation")
	}
	if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrTruncated) {
		t.Fatalf("TryNext after truncation = %v, want ErrTruncated", err)
	}
	if _, err := w.Write([]byte("after")); !errors.Is(err, shmbuf.ErrTruncated) {
		t.Fatalf("Write after truncation = %v, want ErrTruncated", err)
	}
	if _, err := r.Stat(); !errors.Is(err, shmbuf.ErrTruncated) {
		t.Fatalf("Stat after truncation = %v, want ErrTruncated", err)
	}
}

// TestRing_BlockedReaderIsIdle checks that a reader waiting with nothing
// to read sleeps in the kernel instead of polling: over 1 s it may use at
// most a tenth of a core (100 ms of CPU, the process's rusage, which the
// rest of the test binary shares), where a polling reader uses all of
// one. Its liveness ticks (TestCheckEvery) are most of what it uses.
func TestRing_BlockedReaderIsIdle(t *testing.T) {
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096})
	w, _ := r.NewWriter(shmbuf.WriterOptions{}) // keeps the stream open
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	before := cpuTime(t)
	if _, err := rd.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v", err)
	}
	used := cpuTime(t) - before
	t.Logf("CPU used by 1 s of blocked Next: %v", used)
	if used > 100*time.Millisecond {
		t.Fatalf("blocked reader used %v of CPU in 1 s, want at most 100ms (10%%)", used)
	}
	w.Close()
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
