package conformance_test

import (
	"fmt"
	"testing"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// TestRingPairs runs every pair of writer and reader languages on one
// ring under both policies: the reader attaches first, the writer's
// language creates the ring and writes 1000 records of the pattern (some
// forty laps of the 4 KiB ring; 2000 with SHMBUF_LONG=1), and
// the reader checks every byte, the order, and (policy overwrite) that
// the records it read and the losses it was told of add up to every
// record written.
func TestRingPairs(t *testing.T) {
	t.Parallel()
	count, maxlen := testenv.ShortOrLong[uint64](1000, 2000), uint64(300)
	for _, policy := range []string{"block", "overwrite"} {
		size := "4096"
		if policy == "overwrite" {
			size = "8192"
		}
		for _, wl := range langs {
			for _, rl := range langs {
				t.Run(fmt.Sprintf("%s/%s-to-%s", policy, wl, rl), func(t *testing.T) {
					name := uniqueName(t, "pair")
					wl.run(t, "create-ring", name, size, policy)
					rd := rl.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
					w := wl.start(t, "write", name, "3", fmt.Sprint(count), fmt.Sprint(maxlen))
					w.wait()
					s := parseSummary(t, rd.line())
					rd.wait()
					if s.end != "eof" {
						t.Fatalf("reader ended with %q, want eof: %+v", s.end, s)
					}
					if s.records+s.lostRecords != count {
						t.Fatalf("read %d records and lost %d, want %d in all", s.records, s.lostRecords, count)
					}
					if policy == "block" && (s.lostRecords != 0 || s.writers != fmt.Sprintf("3:%d", count)) {
						t.Fatalf("policy block: %+v, want every record of writer 3 in order", s)
					}
					var want uint64
					for k := range count {
						want += patternLen(3, uint32(k), maxlen)
					}
					if s.bytes+s.lostBytes != want {
						t.Fatalf("read %d bytes and lost %d, want %d in all", s.bytes, s.lostBytes, want)
					}
					if s.records == 0 {
						t.Fatal("the reader read nothing")
					}
				})
			}
		}
	}
}

// TestMixedWriters has a Go and a C writer write into one ring at once
// and a Python reader read it: each writer's records in its order,
// nothing lost, and the end of stream only after both closed.
func TestMixedWriters(t *testing.T) {
	t.Parallel()
	const count, maxlen = 1500, 200
	name := uniqueName(t, "mixed")
	langC.run(t, "create-ring", name, "4096", "block")
	rd := langPython.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
	wg := langGo.start(t, "write", name, "1", fmt.Sprint(count), fmt.Sprint(maxlen), "gate")
	wc := langC.start(t, "write", name, "2", fmt.Sprint(count), fmt.Sprint(maxlen), "gate")
	wg.open()
	wc.open()
	wg.wait()
	wc.wait()
	s := parseSummary(t, rd.line())
	rd.wait()
	want := fmt.Sprintf("1:%d 2:%d", count, count)
	if s.end != "eof" || s.records != 2*count || s.lostRecords != 0 || s.writers != want {
		t.Fatalf("reader: %+v; want eof after %d records, writers %s", s, 2*count, want)
	}
}

// TestSnapshotPairs creates a snapshot in one language, publishes in it
// and loads in the other, then the other way round, for every pair. Each
// command opens the snapshot afresh; Python's run in one process.
func TestSnapshotPairs(t *testing.T) {
	t.Parallel()
	for _, a := range langs {
		for _, b := range langs {
			t.Run(fmt.Sprintf("%s-to-%s", a, b), func(t *testing.T) {
				name := uniqueName(t, "snap")
				run := map[lang]runner{a: a.session(t)}
				if b != a {
					run[b] = b.session(t)
				}
				run[a].run(t, "create-snapshot", name, "100")
				if got := run[b].run(t, "snap-load", name); got != "" {
					t.Fatalf("%s loaded %q before any publish, want empty", b, got)
				}
				for i, pair := range [][2]lang{{a, b}, {b, a}, {a, b}} {
					v := fmt.Sprintf("value %d from %s to %s", i, pair[0], pair[1])
					run[pair[0]].run(t, "snap-publish", name, v)
					if got := run[pair[1]].run(t, "snap-load", name); got != v {
						t.Fatalf("%s loaded %q, want %q", pair[1], got, v)
					}
				}
			})
		}
	}
}
