package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestRun_NULName covers the one bad name a script cannot pass (argv
// strings end at NUL): every command refuses it with exit 2 and one line
// on stderr, and nothing is created at the part of the name before the
// NUL.
func TestRun_NULName(t *testing.T) {
	name := uniqueName(t)
	bad := name + "\x00tail"
	for _, args := range [][]string{
		{"write", bad},
		{"read", bad},
		{"create", bad, "--kind", "raw", "--size", "64"},
		{"create", bad, "--kind", "snapshot", "--size", "64"},
		{"stat", bad},
		{"rm", bad},
		{"write", "file:" + filepath.Join(t.TempDir(), "f") + "\x00tail"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(args, strings.NewReader("value\n"), &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("shmbuf %q exited %d, want %d", args, code, exitUsage)
		}
		if stdout.Len() != 0 {
			t.Errorf("shmbuf %q printed %q on stdout", args, stdout.Bytes())
		}
		line := stderr.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || !strings.Contains(line, "NUL") {
			t.Errorf("shmbuf %q: stderr %q, want one line naming the NUL", args, line)
		}
		if _, err := os.Lstat(filepath.Join(shmbuf.ShmDir, name)); err == nil {
			t.Fatalf("shmbuf %q created /dev/shm/%s", args, name)
		}
	}
}

// TestRun_ErrorsAreOneLine checks that failures print exactly one line on
// stderr and nothing on stdout, through run() as main uses it.
func TestRun_ErrorsAreOneLine(t *testing.T) {
	name := uniqueName(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"read", name}, exitFailure, "shmbuf: read posix:" + name + ": no such segment\n"},
		{[]string{"rm", name}, exitFailure, "shmbuf: rm posix:" + name + ": no such segment\n"},
		{[]string{"read", "--nope"}, exitUsage, "shmbuf: read: unknown flag: --nope (see 'shmbuf read --help')\n"},
		{[]string{"create", name, "--kind", "raw", "--size", "12XB"}, exitUsage, "shmbuf: create posix:" + name + `: --size "12XB": invalid size (want a size such as 4096, 64KiB, 4MiB or 1GiB)` + "\n"},
		{[]string{"read", name + "\nx"}, exitFailure, "shmbuf: read 'posix:" + name + "'$'\\n''x': no such segment\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || stderr.String() != tc.want || stdout.Len() != 0 {
			t.Errorf("shmbuf %q: exit %d, stderr %q, stdout %q; want exit %d, stderr %q", tc.args, code, stderr.String(), stdout.String(), tc.code, tc.want)
		}
	}
}
