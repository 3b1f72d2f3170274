package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// nobody is the uid and gid of the unprivileged user the tests run the
// command as.
const nobody = "65534"

// shmbufAsNobody copies this test binary, as "shmbuf", to a directory
// nobody may enter (go test builds it under a 0700 one) and returns a
// command that runs it as nobody through setpriv.
func shmbufAsNobody(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	testenv.Root(t, "to run shmbuf as nobody")
	testenv.Tool(t, "setpriv")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "shmbuf")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return exec.Command("setpriv", append([]string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups", bin}, args...)...)
}

// TestWrite_ModeNotOwner: --mode on a segment another user owns is
// refused (exit 2) before anything is written, even when the caller may
// write the segment; the mode and the value stay.
func TestWrite_ModeNotOwner(t *testing.T) {
	name := uniqueName(t)
	key := fmt.Sprintf("sysv:0x5d%06x", os.Getpid()&0xffffff)
	t.Cleanup(func() { shmbuf.Remove(key) })
	for _, addr := range []string{name, key} {
		args := []string{"write", "--mode", "0666", addr}
		if strings.HasPrefix(addr, "sysv:") {
			args = append(args, "--size", "64")
		}
		var out, errb bytes.Buffer
		if code := run(args, strings.NewReader("root's\n"), &out, &errb); code != 0 {
			t.Fatalf("shmbuf %q: exit %d: %s", args, code, errb.String())
		}

		cmd := shmbufAsNobody(t, "write", "--mode", "0644", addr)
		cmd.Stdin = strings.NewReader("nobody's\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := exitCodeOf(err); code != exitUsage {
			t.Errorf("write --mode as nobody on root's %s: exit %d (%v), want %d; stderr %q", addr, code, err, exitUsage, stderr.String())
		}
		a, _ := shmbuf.ParseAddress(addr)
		want := "shmbuf: write " + a.String() + ": --mode 0644: only its owner can change its mode: it belongs to root (uid 0)\n"
		if stderr.String() != want {
			t.Errorf("stderr %q, want %q", stderr.String(), want)
		}
		info, err := shmbuf.Stat(addr)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode.Perm() != 0o666 {
			t.Errorf("%s: mode %o after the refusal, want 0666", addr, info.Mode.Perm())
		}
		out.Reset()
		if code := run([]string{"read", addr}, nil, &out, &errb); code != 0 || out.String() != "root's\n" {
			t.Errorf("%s holds %q after the refusal (exit %d), want %q", addr, out.String(), code, "root's\n")
		}

		// Without --mode, nobody may write the 0666 segment: the
		// refusal above was the flag's, not the write's.
		cmd = shmbufAsNobody(t, "write", addr)
		cmd.Stdin = strings.NewReader("nobody's\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("write as nobody on root's 0666 %s: %v: %s", addr, err, out)
		}
	}
}
