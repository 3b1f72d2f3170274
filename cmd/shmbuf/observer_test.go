package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRead_ObserverFallback: nobody may read, not write, a ring of root's
// with mode 0644; `shmbuf read` then reads it as an observer, saying so
// in one line on stderr: a plain read prints what the ring holds, as
// often as asked, and --until-end stops at the end of the stream. The
// ring's reader slots stay free.
func TestRead_ObserverFallback(t *testing.T) {
	name := uniqueName(t)
	var out, errb bytes.Buffer
	if code := run([]string{"create", name, "--kind", "ring", "--size", "4KiB", "--mode", "0644"}, nil, &out, &errb); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errb.String())
	}
	if code := run([]string{"write", name}, strings.NewReader("one\ntwo\nthree\n"), &out, &errb); code != 0 {
		t.Fatalf("write: exit %d: %s", code, errb.String())
	}
	for _, args := range [][]string{{"read", name}, {"read", name}, {"read", "--until-end", name}} {
		cmd := shmbufAsNobody(t, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("shmbuf %q as nobody: %v: %s", args, err, stderr.String())
		}
		if got := stdout.String(); got != "one\ntwo\nthree\n" {
			t.Errorf("shmbuf %q as nobody printed %q", args, got)
		}
		want := "shmbuf: read posix:" + name + ": no write permission: reading as an observer, which holds no writer back and may miss records\n"
		if got := stderr.String(); got != want {
			t.Errorf("shmbuf %q as nobody: stderr %q, want %q", args, got, want)
		}
	}
	out.Reset()
	if code := run([]string{"stat", name}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "readers") {
		t.Fatalf("stat: exit %d: %s", code, errb.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "readers" && !strings.HasPrefix(f[1], "0/") {
			t.Errorf("after the observers: %q, want no reader", line)
		}
	}
}
