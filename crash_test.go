package shmbuf_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Crash suite: kill -9 a peer at a random moment, many times:
// crashTrials() is 10 trials per case, enough to kill at different
// points of a stream, and 1000 with SHMBUF_LONG=1 (the long form, see
// README "Reliability"). A trial lasts tens of milliseconds: the test
// binary checks liveness every TestCheckEvery.

func crashTrials() int { return testenv.ShortOrLong(10, 1000) }

// trialRing creates a ring for one trial and returns a function removing it.
func trialRing(t *testing.T, trial int, opts shmbuf.RingOptions) (*shmbuf.Ring, string, func()) {
	t.Helper()
	addr := fmt.Sprintf("%s-%d", uniqueName(t), trial)
	r, err := shmbuf.CreateRing(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := func() { r.Close(); shmbuf.Remove(addr) }
	t.Cleanup(done) // Close and Remove are idempotent enough: errors ignored
	return r, addr, done
}

// killAfter kills p after d, recording the moment just before the signal
// (so "noticed within" is measured conservatively).
func killAfter(p *os.Process, d time.Duration) (killedAt *atomic.Int64, stop func()) {
	killedAt = new(atomic.Int64)
	timer := time.AfterFunc(d, func() {
		killedAt.Store(time.Now().UnixNano())
		p.Signal(syscall.SIGKILL)
	})
	return killedAt, func() { timer.Stop() }
}

// TestCrash_RingWriterKilled: the reader receives a prefix of the
// writer's records, each intact, none duplicated, and learns the writer is
// lost soon after the kill (within noticeBound).
func TestCrash_RingWriterKilled(t *testing.T) {
	t.Parallel()
	const maxLen = 300
	var slowest time.Duration
	var minRecs, maxRecs uint64 = ^uint64(0), 0
	for trial := range crashTrials() {
		r, addr, done := trialRing(t, trial, shmbuf.RingOptions{Size: 16 << 10})
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := startChild(t, "ring-writer", "ready", "RING_ADDR="+addr, "RING_N=-1", fmt.Sprint("RING_MAXLEN=", maxLen))
		killedAt, stop := killAfter(p, rand.N(20*time.Millisecond))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var seq uint64
		for {
			rec, err := rd.Next(ctx)
			if err != nil {
				k := killedAt.Load()
				switch {
				case !errors.Is(err, shmbuf.ErrWriterLost):
					t.Fatalf("trial %d after %d records: %v, want ErrWriterLost", trial, seq, err)
				case k == 0:
					t.Fatalf("trial %d: ErrWriterLost before the kill", trial)
				}
				d := time.Since(time.Unix(0, k))
				if d > noticeBound {
					t.Fatalf("trial %d: writer loss noticed %v after kill -9, want within %v", trial, d, noticeBound)
				}
				slowest = max(slowest, d)
				break
			}
			_, s, err := checkRec(rec)
			if err != nil {
				t.Fatalf("trial %d record %d: %v", trial, seq, err)
			}
			if s != seq {
				t.Fatalf("trial %d: seq %d, want %d (duplicate or gap)", trial, s, seq)
			}
			seq++
		}
		cancel()
		stop()
		p.Wait()
		rd.Close()
		done()
		minRecs, maxRecs = min(minRecs, seq), max(maxRecs, seq)
	}
	t.Logf("%d trials: %d..%d intact records before the kill, loss noticed within %v at worst",
		crashTrials(), minRecs, maxRecs, slowest.Round(time.Millisecond))
}

// TestCrash_RingReaderKilled: a reader killed mid-stream stops holding
// back a blocked writer soon after (within noticeBound), and another
// reader sees every record.
func TestCrash_RingReaderKilled(t *testing.T) {
	t.Parallel()
	const n, maxLen = 400, 200 // ≈ 50 KiB through a 4 KiB ring: the writer must wait
	var slowest time.Duration
	for trial := range crashTrials() {
		r, addr, done := trialRing(t, trial, shmbuf.RingOptions{Size: 4096, MaxRecord: maxLen})
		good, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := startChild(t, "ring-stuck-reader", "attached", "RING_ADDR="+addr)
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var readErr error
		wg.Add(1)
		go func() { // the surviving reader checks everything
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for seq := uint64(0); seq < n; seq++ {
				rec, err := good.Next(ctx)
				if err != nil {
					readErr = fmt.Errorf("record %d: %w", seq, err)
					return
				}
				if _, s, err := checkRec(rec); err != nil || s != seq {
					readErr = fmt.Errorf("record %d: seq %d, %v", seq, s, err)
					return
				}
			}
		}()
		killedAt, stop := killAfter(p, rand.N(10*time.Millisecond))
		buf := make([]byte, maxLen)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for seq := uint64(0); seq < n; seq++ {
			b := buf[:recLen(seq, maxLen)]
			fillRec(b, 0, seq)
			if _, err := w.WriteContext(ctx, b); err != nil {
				t.Fatalf("trial %d: write %d: %v", trial, seq, err)
			}
		}
		finished := time.Now()
		cancel()
		k := killedAt.Load()
		if k == 0 {
			t.Fatalf("trial %d: the writer finished before the stuck reader was killed", trial)
		}
		d := finished.Sub(time.Unix(0, k))
		if d > noticeBound {
			t.Fatalf("trial %d: writer finished %v after the kill, want within %v", trial, d, noticeBound)
		}
		slowest = max(slowest, d)
		wg.Wait()
		if readErr != nil {
			t.Fatalf("trial %d: surviving reader: %v", trial, readErr)
		}
		stop()
		p.Wait()
		w.Close()
		good.Close()
		done()
	}
	t.Logf("%d trials: writer done within %v of the reader's kill at worst", crashTrials(), slowest.Round(time.Millisecond))
}

// TestCrash_OneOfThreeWritersKilled: the survivors' records all arrive,
// in per-writer order, and the killed writer's arrive as an intact prefix.
func TestCrash_OneOfThreeWritersKilled(t *testing.T) {
	t.Parallel()
	const n, maxLen = 2000, 200
	trials := crashTrials()
	var victimRecs []uint64
	for trial := range trials {
		r, addr, done := trialRing(t, trial, shmbuf.RingOptions{Size: 16 << 10})
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var victim *os.Process
		for w := 1; w <= 3; w++ {
			count := n
			if w == 2 {
				count = -1 // the victim writes until it is killed
			}
			p, _ := startChild(t, "ring-writer", "ready", "RING_ADDR="+addr, fmt.Sprint("RING_W=", w),
				fmt.Sprint("RING_N=", count), fmt.Sprint("RING_MAXLEN=", maxLen))
			if w == 2 {
				victim = p
			} else {
				defer func() {
					if t.Failed() {
						p.Kill() // a survivor blocked for want of a reader
					}
					p.Wait()
				}()
			}
		}
		_, stop := killAfter(victim, rand.N(10*time.Millisecond))
		next := map[uint32]uint64{}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var end error
		for {
			rec, err := rd.Next(ctx)
			if err != nil {
				end = err
				break
			}
			w, s, err := checkRec(rec)
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			if w < 1 || w > 3 || s != next[w] {
				t.Fatalf("trial %d: writer %d seq %d, want %d", trial, w, s, next[w])
			}
			next[w]++
		}
		cancel()
		stop()
		victim.Wait()
		if end != io.EOF && !errors.Is(end, shmbuf.ErrWriterLost) {
			st, _ := r.Stat()
			t.Fatalf("trial %d: stream ended with %v; received %v; ring %+v", trial, end, next, st)
		}
		if next[1] != n || next[3] != n {
			t.Fatalf("trial %d: survivors delivered %d and %d records, want %d each", trial, next[1], next[3], n)
		}
		victimRecs = append(victimRecs, next[2])
		rd.Close()
		done()
	}
	t.Logf("%d trials: survivors complete; the killed writer's intact prefixes (first 10): %v", trials, victimRecs[:min(10, len(victimRecs))])
}

// TestCrash_RawWriterKilled: a raw writer killed mid-Store never hands a
// reader a torn value (it gets ErrInterrupted until the next Store), and
// the next writer is not blocked by the dead one's lock.
func TestCrash_RawWriterKilled(t *testing.T) {
	t.Parallel()
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	interrupted := 0
	for trial := range crashTrials() {
		if err := shmbuf.StoreRaw(addr, tornEncode(nil, 1<<47), 0); err != nil {
			t.Fatal(err)
		}
		crashWriter(t, "torn-raw-writer", addr)
		r, err := shmbuf.OpenRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Load()
		switch {
		case errors.Is(err, shmbuf.ErrInterrupted):
			interrupted++
		case err != nil:
			t.Fatalf("trial %d: %v", trial, err)
		default:
			if _, err := tornDecode(v); err != nil {
				t.Fatalf("trial %d: reader got a torn value after the writer's death: %v", trial, err)
			}
		}
		storeWithin(t, noticeBound, func() error { return r.Store(tornEncode(nil, uint64(trial))) })
		if v, err := r.Load(); err != nil {
			t.Fatalf("trial %d: after a new store: %v", trial, err)
		} else if _, err := tornDecode(v); err != nil {
			t.Fatalf("trial %d: after a new store: %v", trial, err)
		}
		r.Close()
	}
	t.Logf("%d trials, %d killed mid-store (reader told ErrInterrupted), none torn", crashTrials(), interrupted)
}

// TestCrash_SnapshotWriterKilled: a snapshot writer killed mid-Publish
// leaves the previous value whole, and the next Publish takes over its lock.
func TestCrash_SnapshotWriterKilled(t *testing.T) {
	t.Parallel()
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: tornCapacity})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for trial := range crashTrials() {
		crashWriter(t, "torn-snapshot-writer", addr)
		v, _, err := s.Load(nil)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if _, err := tornDecode(v); err != nil {
			t.Fatalf("trial %d: torn value after the writer's death: %v", trial, err)
		}
		storeWithin(t, noticeBound, func() error { return s.Publish(tornEncode(nil, uint64(trial))) })
	}
}

// crashWriter starts a torn-value writer on addr and kills it at a random
// moment while it rewrites the segment in a loop.
func crashWriter(t *testing.T, role, addr string) {
	t.Helper()
	cmd := childCmd(t, role, "SHMBUF_TEST_ADDR="+addr, "SHMBUF_TEST_WRITER=2")
	// The writer loops until its stdin closes: keep it open until the kill.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%s: first line %q, %v", role, line, err)
	}
	time.Sleep(rand.N(5 * time.Millisecond))
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// storeWithin runs store and fails the test if it takes longer than d.
func storeWithin(t *testing.T, d time.Duration, store func() error) {
	t.Helper()
	start := time.Now()
	if err := store(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > d {
		t.Fatalf("store after the writer's death took %v, want within %v", took, d)
	}
}
