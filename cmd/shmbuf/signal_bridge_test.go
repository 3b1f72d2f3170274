package main

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSignal_Bridge stops a bridge with a signal while it waits for a
// NATS server that does not answer (port 1 on loopback): in both
// directions it exits with the shell's code at once and leaves no reader
// or writer slot taken in its ring.
func TestSignal_Bridge(t *testing.T) {
	const url = "nats://127.0.0.1:1/sig.data"
	for _, sig := range stopSignals {
		for _, dir := range []string{"out", "in"} {
			t.Run(dir+"/"+unix.SignalName(sig), func(t *testing.T) {
				name := uniqueName(t)
				ring := createTestRing(t, name, 64<<10)
				args := []string{"bridge", name, url}
				if dir == "in" {
					args = []string{"bridge", url, name}
				}
				b := startBg(t, nil, args...)
				waitFor(t, "the bridge says it cannot reach the server", func() bool {
					return strings.Contains(b.stderr.String(), "cannot reach")
				})
				if dir == "out" {
					waitFor(t, "the bridge's reader attaches", func() bool { return len(ringStatOf(t, ring).Readers) == 1 })
				}
				b.stop(sig)
				if st := ringStatOf(t, ring); len(st.Readers) != 0 || len(st.Writers) != 0 {
					t.Errorf("slots left taken: writers %+v, readers %+v", st.Writers, st.Readers)
				}
				ring.Close()
				checkNothingLeft(t, name)
			})
		}
	}
}
