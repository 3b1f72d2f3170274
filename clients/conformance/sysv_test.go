package conformance_test

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// sysvAddr returns a System V key no other test uses (a random one in a
// range of this package's), removed when t ends.
func sysvAddr(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("sysv:0x%08x", 0x5d000000|rand.Uint32N(1<<24))
	t.Cleanup(func() { shmbuf.Remove(addr) })
	return addr
}

// TestSysVRing runs a ring on a System V segment, where there is no file
// to lock and liveness is the recorded pid, start time and pid namespace:
// a Go-created ring written by C and read by Python; then a C writer
// killed holding a claim, which a Go reader must prove dead by its
// identity (the start time and namespace the C library recorded) and
// reap.
func TestSysVRing(t *testing.T) {
	t.Parallel()
	const count, maxlen = 1000, 300
	t.Run("c-to-python", func(t *testing.T) {
		addr := sysvAddr(t)
		langGo.run(t, "create-ring", addr, "4096", "block")
		rd := langPython.start(t, "read", addr, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=60000")
		w := langC.start(t, "write", addr, "4", fmt.Sprint(count), fmt.Sprint(maxlen))
		w.wait()
		s := parseSummary(t, rd.line())
		if s.end != "eof" || s.records != count || s.writers != fmt.Sprintf("4:%d", count) {
			t.Fatalf("reader: %+v", s)
		}
	})
	t.Run("c-killed-go-reads", func(t *testing.T) {
		addr := sysvAddr(t)
		langC.run(t, "create-ring", addr, "65536", "block")
		rd := langGo.start(t, "read", addr, fmt.Sprintf("maxlen=%d", maxlen), "timeout-ms=30000")
		w := langC.start(t, "write", addr, "6", "200", fmt.Sprint(maxlen), "hang")
		w.expect("hung")
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s := parseSummary(t, rd.line())
		if s.end != "writer-lost" || s.records != 200 {
			t.Fatalf("reader: %+v; want writer-lost after 200 records", s)
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		addr := sysvAddr(t)
		langGo.run(t, "create-snapshot", addr, "64")
		langC.run(t, "snap-publish", addr, "from c")
		py := langPython.session(t)
		if got := py.run(t, "snap-load", addr); got != "from c" {
			t.Fatalf("Python loaded %q", got)
		}
		py.run(t, "snap-publish", addr, "from python")
		if got := langGo.run(t, "snap-load", addr); got != "from python" {
			t.Fatalf("Go loaded %q", got)
		}
	})
}
