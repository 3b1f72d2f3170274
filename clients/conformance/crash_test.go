package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// TestCrashCWriterMidStream kills -9 a C writer while it writes (sleeping
// between claim and commit, so most kills land inside a claim) and has a
// Go reader in this process read on: it gets an intact prefix of the
// writer's records, every byte checked, then ErrWriterLost, once a waiting
// reader's reaper has found the writer dead and padded its claim.
func TestCrashCWriterMidStream(t *testing.T) {
	t.Parallel()
	for _, policy := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(policy.String(), func(t *testing.T) {
			const maxlen = 200
			name := uniqueName(t, "crash-c")
			r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 8192, Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rd, err := r.NewReader(shmbuf.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w := langC.start(t, "write", name, "5", "1000000", fmt.Sprint(maxlen), "hold-us=300", "sleep-us=100")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := newChecker(maxlen)
			killed := false
			for {
				rec, err := rd.Next(ctx)
				var lost *shmbuf.LostError
				if errors.As(err, &lost) {
					c.lost()
					continue
				}
				if err != nil {
					if !killed || !errors.Is(err, shmbuf.ErrWriterLost) {
						t.Fatalf("after %d records (killed: %v): %v, want ErrWriterLost after the kill", c.records, killed, err)
					}
					break
				}
				if err := c.check(rec); err != nil {
					t.Fatal(err)
				}
				if c.records == 300 && !killed {
					if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			}
			if c.records < 300 {
				t.Fatalf("read %d records, want at least the 300 before the kill", c.records)
			}
			// The end is reported once; the next call waits for a new
			// stream.
			if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) && err != io.EOF {
				t.Fatalf("after the end: %v, want ErrEmpty", err)
			}
		})
	}
}

// TestCrashPairs kills -9 a writer of each language that has written 300
// records and holds a claim it will never commit, while a reader of each
// other language waits for the next record: the reader reports all 300
// records, then the writer's loss.
func TestCrashPairs(t *testing.T) {
	t.Parallel()
	const count, maxlen = 300, 200
	for _, wl := range langs {
		for _, rl := range langs {
			if wl == rl && wl != langGo {
				continue
			}
			t.Run(fmt.Sprintf("%s-killed-%s-reads", wl, rl), func(t *testing.T) {
				name := uniqueName(t, "crash")
				rl.run(t, "create-ring", name, "65536", "block")
				rd := rl.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=30000")
				w := wl.start(t, "write", name, "7", fmt.Sprint(count), fmt.Sprint(maxlen), "hang")
				w.expect("hung")
				if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				s := parseSummary(t, rd.line())
				want := fmt.Sprintf("7:%d", count)
				if s.end != "writer-lost" || s.records != count || s.writers != want {
					t.Fatalf("reader: %+v; want writer-lost after %d records of writer 7", s, count)
				}
			})
		}
	}
}
