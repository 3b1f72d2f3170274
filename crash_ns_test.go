package shmbuf_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// TestCrash_RingWriterKilledInNamespace is TestCrash_RingWriterKilled
// with the writer in a new pid namespace (a container sharing /dev/shm):
// a live writer there is never taken for dead, and its kill -9 is noticed
// here (within noticeBound), after an intact, gap-free prefix. The writer
// pauses 100 ms every 1000 records and is killed at a random moment
// within 250 ms, so that the reader, which checks liveness every
// TestCheckEvery, usually checks it while the writer lives.
// The ring alternates between the posix and file backends; both prove
// liveness with the slot's lock. A trial takes up to most of a second, so
// the default run has 4 of them, two per backend, and the long form
// crashTrials().
func TestCrash_RingWriterKilledInNamespace(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	trials := testenv.ShortOrLong(4, crashTrials())
	var slowest time.Duration
	var minRecs, maxRecs uint64 = ^uint64(0), 0
	for trial := range trials {
		backend := []string{"posix", "file"}[trial%2]
		r, addr := ringAt(t, backend, shmbuf.RingOptions{Size: 16 << 10})
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cmd, _ := startNSChild(t, "slow-ring-writer", "ready", "RING_ADDR="+addr, "RING_N=-1",
			"RING_PAUSE=100ms", "RING_EVERY=1000")
		inner, _ := os.FindProcess(nsInnerPid(t, cmd.Process))
		killedAt, stop := killAfter(inner, rand.N(250*time.Millisecond))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var seq uint64
		for {
			rec, err := rd.Next(ctx)
			if err != nil {
				k := killedAt.Load()
				switch {
				case !errors.Is(err, shmbuf.ErrWriterLost):
					t.Fatalf("trial %d (%s) after %d records: %v, want ErrWriterLost", trial, backend, seq, err)
				case k == 0:
					t.Fatalf("trial %d (%s): ErrWriterLost before the kill: a live writer in another pid namespace was declared dead", trial, backend)
				}
				d := time.Since(time.Unix(0, k))
				if d > noticeBound {
					t.Fatalf("trial %d (%s): writer loss noticed %v after kill -9, want within %v", trial, backend, d, noticeBound)
				}
				slowest = max(slowest, d)
				break
			}
			_, s, err := checkRec(rec)
			if err != nil {
				t.Fatalf("trial %d (%s) record %d: %v", trial, backend, seq, err)
			}
			if s != seq {
				t.Fatalf("trial %d (%s): seq %d, want %d (duplicate or gap)", trial, backend, s, seq)
			}
			seq++
		}
		cancel()
		stop()
		cmd.Wait()
		rd.Close()
		r.Close()
		shmbuf.Remove(addr)
		minRecs, maxRecs = min(minRecs, seq), max(maxRecs, seq)
	}
	t.Logf("%d trials: %d..%d intact records before the kill, loss noticed within %v at worst",
		trials, minRecs, maxRecs, slowest.Round(time.Millisecond))
}
