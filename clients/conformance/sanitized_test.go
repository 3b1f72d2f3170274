package conformance_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestSanitizedPairs runs the C library built with
// -fsanitize=address,undefined against Go, both ways, under both
// policies and every wait strategy, and through a crash: no sanitizer
// report (which would fail the C process) and every byte right.
func TestSanitizedPairs(t *testing.T) {
	t.Parallel()
	const count, maxlen = 1000, 300
	for _, policy := range []string{"block", "overwrite"} {
		for _, wait := range []string{"spin", "adaptive", "block"} {
			for _, pair := range [][2]lang{{langGo, langCASan}, {langCASan, langGo}} {
				wl, rl := pair[0], pair[1]
				t.Run(fmt.Sprintf("%s/%s/%s-to-%s", policy, wait, wl, rl), func(t *testing.T) {
					name := uniqueName(t, "asan")
					wl.run(t, "create-ring", name, "4096", policy)
					rd := rl.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000", "wait="+wait)
					w := wl.start(t, "write", name, "2", fmt.Sprint(count), fmt.Sprint(maxlen), "wait="+wait)
					w.wait()
					s := parseSummary(t, rd.line())
					rd.wait()
					if s.end != "eof" || s.records+s.lostRecords != count || (policy == "block" && s.writers != fmt.Sprintf("2:%d", count)) {
						t.Fatalf("reader: %+v", s)
					}
				})
			}
		}
	}
	t.Run("go-killed-c-asan-reads", func(t *testing.T) {
		name := uniqueName(t, "asan-crash")
		langGo.run(t, "create-ring", name, "65536", "block")
		rd := langCASan.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=30000")
		w := langGo.start(t, "write", name, "8", "100", fmt.Sprint(maxlen), "hang")
		w.expect("hung")
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s := parseSummary(t, rd.line())
		rd.wait()
		if s.end != "writer-lost" || s.records != 100 {
			t.Fatalf("reader: %+v", s)
		}
		if strings.Contains(rd.stderr.String(), "Sanitizer") {
			t.Fatal(rd.stderr.String())
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		name := uniqueName(t, "asan-snap")
		langCASan.run(t, "create-snapshot", name, "64")
		langGo.run(t, "snap-publish", name, "from go")
		if got := langCASan.run(t, "snap-load", name); got != "from go" {
			t.Fatalf("loaded %q", got)
		}
		langCASan.run(t, "raw-store", name+"-raw", "raw from c")
		uniqueNameCleanup(t, name+"-raw")
		if got := langCASan.run(t, "raw-load", name+"-raw"); got != "raw from c" {
			t.Fatalf("loaded %q", got)
		}
	})
}
