package shmbuf_test

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

func init() {
	// An inspector: what `shmbuf ls` does to every segment, in a loop,
	// until the test closes stdin.
	childRoles["inspect-loop"] = func() int {
		addr := os.Getenv("SHMBUF_ADDR")
		stop := make(chan struct{})
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(stop)
		}()
		for {
			select {
			case <-stop:
				return 0
			default:
			}
			if _, err := usageAt(addr); err != nil {
				return childFail("%v", err)
			}
		}
	}
}

// TestStale_InspectorIsNotAUser: processes that inspect a segment (a
// concurrent `ls` or `rm --stale` maps each segment for a moment) do not
// make an unused segment look in use, so `rm --stale` run beside them
// still removes it.
func TestStale_InspectorIsNotAUser(t *testing.T) {
	t.Parallel()
	addr := posixTestAddr(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	// Made by a process that has exited: nobody uses it.
	if err := childCmd(t, "make-ring", "SHMBUF_ADDR="+addr).Run(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := childCmd(t, "inspect-loop", "SHMBUF_ADDR="+addr)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			in.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("inspector: %v", err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // the inspectors are at work
	for i := range 60 {
		u := usage(t, addr)
		if u.InUse() || !u.Stale(0) {
			t.Fatalf("look %d of 60: an unused ring beside two inspectors is in use or not stale: %+v", i, u)
		}
	}
}
