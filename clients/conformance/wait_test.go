package conformance_test

import (
	"fmt"
	"testing"
)

// TestWaitStrategies runs a Go writer into a C reader, and a C writer
// into a Go reader, under each wait strategy on both sides, on a ring so
// small (policy block) that writers wait for space and readers for
// records all the time: the futex words and waiter counts of one
// implementation must wake the other's sleepers.
func TestWaitStrategies(t *testing.T) {
	t.Parallel()
	const count, maxlen = 1500, 400
	for _, wait := range []string{"spin", "adaptive", "block"} {
		for _, pair := range [][2]lang{{langGo, langC}, {langC, langGo}} {
			wl, rl := pair[0], pair[1]
			t.Run(fmt.Sprintf("%s/%s-to-%s", wait, wl, rl), func(t *testing.T) {
				name := uniqueName(t, "wait")
				wl.run(t, "create-ring", name, "2048", "block")
				rd := rl.start(t, "read", name, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000", "wait="+wait)
				w := wl.start(t, "write", name, "9", fmt.Sprint(count), fmt.Sprint(maxlen), "wait="+wait)
				w.wait()
				s := parseSummary(t, rd.line())
				if s.end != "eof" || s.records != count || s.writers != fmt.Sprintf("9:%d", count) {
					t.Fatalf("reader: %+v", s)
				}
			})
		}
	}
}
