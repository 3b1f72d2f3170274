package shmbuf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// Child processes of the race tests build files under a hidden name
	// when asked, to cover the fallback for file systems without
	// O_TMPFILE.
	if os.Getenv("SHMBUF_TEST_NO_TMPFILE") == "1" {
		noTmpfile = true
	}
}

// hiddenLeft lists the hidden names left in dir.
func hiddenLeft(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			left = append(left, e.Name())
		}
	}
	return left
}

// TestLink_EveryWayLeavesNothing creates, fails to create, force-replaces
// and raw-stores segments both with O_TMPFILE and under hidden names, in a
// directory of its own, and checks what each leaves: exactly the segment,
// with its mode and mark, and no hidden name.
func TestLink_EveryWayLeavesNothing(t *testing.T) {
	old := unix.Umask(0o077)
	t.Cleanup(func() { unix.Umask(old) })
	for _, hidden := range []bool{false, true} {
		t.Run(map[bool]string{false: "tmpfile", true: "hidden-name"}[hidden], func(t *testing.T) {
			noTmpfile = hidden
			t.Cleanup(func() { noTmpfile = false })
			dir := t.TempDir()
			addr := "file:" + filepath.Join(dir, "seg")
			path := filepath.Join(dir, "seg")
			check := func(what string, size int64, mode os.FileMode, mark string) {
				t.Helper()
				if left := hiddenLeft(t, dir); len(left) != 0 {
					t.Fatalf("%s left %v", what, left)
				}
				fi, err := os.Lstat(path)
				if err != nil || fi.Size() != size || fi.Mode() != mode {
					t.Fatalf("%s: %v, %v; want size %d mode %v", what, fi, err, size, mode)
				}
				var buf [16]byte
				n, _ := unix.Getxattr(path, rawKindXattr, buf[:])
				if got := string(buf[:max(n, 0)]); got != mark {
					t.Fatalf("%s: kind mark %q, want %q", what, got, mark)
				}
			}

			if err := StoreRaw(addr, []byte("first value"), 0o640); err != nil {
				t.Fatal(err)
			}
			check("StoreRaw creating", 11, 0o640, rawResizable)
			if err := StoreRaw(addr, []byte("short"), 0); err != nil {
				t.Fatal(err)
			}
			check("StoreRaw replacing", 5, 0o640, rawResizable)
			if got, _ := os.ReadFile(path); string(got) != "short" {
				t.Fatalf("content %q", got)
			}

			_, err := CreateRing(addr, RingOptions{Size: 4096})
			if !errors.Is(err, ErrExist) {
				t.Fatalf("CreateRing over a raw segment: %v, want ErrExist", err)
			}
			check("refused CreateRing", 5, 0o640, rawResizable)

			r, err := CreateRing(addr, RingOptions{Size: 4096, Mode: 0o604, Force: true})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			fi, _ := os.Stat(path)
			check("forced CreateRing", fi.Size(), 0o604, "")
			if info, err := Stat(addr); err != nil || info.Kind != KindRing {
				t.Fatalf("Stat = %+v, %v; want kind ring", info, err)
			}

			raw, err := CreateRaw(addr, CreateOptions{Size: 100, Force: true})
			if err != nil {
				t.Fatal(err)
			}
			raw.Close()
			check("forced CreateRaw", 100, 0o600, rawFixed)

			if err := Remove(addr); err != nil {
				t.Fatal(err)
			}
			s, err := CreateSnapshot(addr, CreateOptions{Size: 64})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			fi, _ = os.Stat(path)
			check("CreateSnapshot", fi.Size(), 0o600, "")
		})
	}
}

// TestLink_LeftoverHiddenName: a writer killed between naming its new file
// and renaming it leaves the file under the target's hidden name; the next
// store to the target, or its removal, clears it, and a hidden name a live
// writer holds is left alone.
func TestLink_LeftoverHiddenName(t *testing.T) {
	dir := t.TempDir()
	addr := "file:" + filepath.Join(dir, "seg")
	path := filepath.Join(dir, "seg")
	if err := StoreRaw(addr, []byte("value"), 0); err != nil {
		t.Fatal(err)
	}
	leftover := hiddenPath(path)
	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := StoreRaw(addr, []byte("next"), 0); err != nil {
		t.Fatal(err)
	}
	if left := hiddenLeft(t, dir); len(left) != 0 {
		t.Fatalf("store left %v", left)
	}
	if got, _ := os.ReadFile(path); string(got) != "next" {
		t.Fatalf("content %q", got)
	}

	// A hidden name whose builder is alive (it holds the flock) is not
	// taken: the store goes through another name.
	f, err := os.OpenFile(leftover, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- StoreRaw(addr, []byte("while busy"), 0) }()
	time.Sleep(100 * time.Millisecond)
	if got, err := os.ReadFile(leftover); err != nil || len(got) != 0 {
		t.Fatalf("a hidden name held by a live builder was taken: %q, %v", got, err)
	}
	// The store waits for the live holder; release it as a builder
	// finishing would, by renaming its file away.
	if err := os.Rename(leftover, filepath.Join(dir, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "elsewhere")); len(got) != 0 {
		t.Fatalf("the live builder's file was written: %q", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "while busy" {
		t.Fatalf("content %q", got)
	}

	if err := os.WriteFile(leftover, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(addr); err != nil {
		t.Fatal(err)
	}
	if left := hiddenLeft(t, dir); len(left) != 0 {
		t.Fatalf("Remove left %v", left)
	}
}
