package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRead_FollowPastLostWriter: read -f follows a ring past a stream
// whose writer was killed (the end is said once on stderr) into the next
// writer's stream, and stops only on a signal.
func TestRead_FollowPastLostWriter(t *testing.T) {
	name := uniqueName(t)
	ring := createTestRing(t, name, 64<<10)
	follower := startBg(t, nil, "read", "-f", name)
	waitFor(t, "the follower attaches", func() bool { return len(ringStatOf(t, ring).Readers) == 1 })

	in, feed := stdinPipe(t)
	doomed := startBg(t, in, "write", name)
	if _, err := feed.WriteString("before\n"); err != nil {
		t.Fatal(err)
	}
	follower.waitStdout("before\n")
	doomed.cmd.Process.Kill() // SIGKILL: the writer never closes
	doomed.wait(bgDeadline)
	waitFor(t, "the follower reports the lost writer", func() bool {
		return strings.Contains(follower.stderr.String(), "every writer was lost")
	})

	after := filepath.Join(t.TempDir(), "after")
	if err := os.WriteFile(after, []byte("after\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(after)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := startBg(t, f, "write", name)
	if code, _ := next.wait(bgDeadline); code != 0 {
		t.Fatalf("the next writer exited %d: %s", code, next.stderr.String())
	}
	follower.waitStdout("before\nafter\n")
	follower.stop(syscall.SIGTERM)
	if got := follower.stderr.String(); strings.Count(got, "\n") != 1 ||
		!strings.HasPrefix(got, "shmbuf: read posix:"+name+": every writer was lost") || !strings.Contains(got, "waiting for the next stream") {
		t.Errorf("follower's stderr %q, want one line about the lost writer", got)
	}
}
