package shmbuf_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Values are returned exactly: a raw segment shmbuf sized to its value,
// or a fixed region shmbuf created, gives back its trailing NUL bytes;
// only regions of other programs (and System V ones) are trimmed.

// TestRaw_ExactTrailingNULs stores values ending in NUL bytes into
// resizable segments and into fixed regions made by CreateRaw, on posix
// and file:, and loads them back whole.
func TestRaw_ExactTrailingNULs(t *testing.T) {
	t.Parallel()
	values := []string{"ab\x00\x00", "\x00", "", "x\x00y\x00", strings.Repeat("\x00", 64)}
	for _, b := range []struct {
		name string
		addr func(*testing.T) string
	}{{"posix", posixTestAddr}, {"file", fileTestAddr}} {
		t.Run(b.name+"/resizable", func(t *testing.T) {
			addr := b.addr(t)
			for _, v := range values {
				if err := shmbuf.StoreRaw(addr, []byte(v), 0); err != nil {
					t.Fatal(err)
				}
				checkExact(t, addr, v)
			}
		})
		t.Run(b.name+"/fixed", func(t *testing.T) {
			addr := b.addr(t)
			r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			checkExact(t, addr, "") // a new region holds the empty value
			for _, v := range values {
				if err := r.Store([]byte(v)); err != nil {
					t.Fatal(err)
				}
				checkExact(t, addr, v)
				if got := segmentContent(t, addr); len(got) != 64 {
					t.Fatalf("fixed region resized to %d", len(got))
				}
			}
		})
	}
}

// checkExact loads addr through a fresh handle and wants v exactly, and
// Exact to say so.
func checkExact(t *testing.T, addr, v string) {
	t.Helper()
	r, err := shmbuf.OpenRawReadOnly(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := mustLoadRaw(t, r); string(got) != v {
		t.Fatalf("Load = %q, want %q", got, v)
	}
	if exact, err := r.Exact(); err != nil || !exact {
		t.Fatalf("Exact = %v, %v; want true", exact, err)
	}
}

// checkTrimmed loads addr through a fresh handle and wants v, and Exact
// to say that trailing NULs are trimmed.
func checkTrimmed(t *testing.T, addr, v string) {
	t.Helper()
	r, err := shmbuf.OpenRawReadOnly(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := mustLoadRaw(t, r); string(got) != v {
		t.Fatalf("Load = %q, want %q", got, v)
	}
	if exact, err := r.Exact(); err != nil || exact {
		t.Fatalf("Exact = %v, %v; want false", exact, err)
	}
}

// TestRaw_MarkIgnoredAfterForeignWrite: when another program rewrites a
// fixed region shmbuf made, through its own file or mapping, the length
// mark no longer matches and Load trims as for a foreign region: the
// mark never cuts short what the other program wrote.
func TestRaw_MarkIgnoredAfterForeignWrite(t *testing.T) {
	t.Parallel()
	addr := posixTestAddr(t)
	r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Store([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	path := filePath(t, addr)
	for _, c := range []struct{ write, want string }{
		{"abcdef", "abcdef"},             // longer: past the recorded length
		{"xy", "xy"},                     // same length, other bytes
		{"xy\x00\x00zz", "xy\x00\x00zz"}, // NULs inside are kept
	} {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(padded(c.write, 64), 0)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkTrimmed(t, addr, c.want)
	}
	// shmbuf's next Store records the length again.
	if err := r.Store([]byte("z\x00")); err != nil {
		t.Fatal(err)
	}
	checkExact(t, addr, "z\x00")
}

// TestRaw_ForeignRegionsTrimmed: a value ending in NULs stored into a
// fixed region another program made (Python's shared_memory, ipcmk's
// System V segment) comes back trimmed: shmbuf cannot tell it from the
// padding, and leaves no mark on someone else's region.
func TestRaw_ForeignRegionsTrimmed(t *testing.T) {
	t.Parallel()
	t.Run("python", func(t *testing.T) {
		py := needPython(t)
		name := uniqueName(t)
		t.Cleanup(func() { os.Remove(shmbuf.ShmDir + "/" + name) })
		script := `import sys
from multiprocessing import resource_tracker, shared_memory
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=64)
resource_tracker.unregister(shm._name, "shared_memory")
shm.close()`
		if out, err := exec.Command(py, "-S", "-c", script, name).CombinedOutput(); err != nil {
			t.Fatalf("python: %v: %s", err, out)
		}
		if err := shmbuf.StoreRaw(name, []byte("ab\x00\x00"), 0); err != nil {
			t.Fatal(err)
		}
		checkTrimmed(t, name, "ab")
		if got := segmentContent(t, name); !bytes.Equal(got, padded("ab", 64)) {
			t.Fatalf("content %q", got)
		}
	})
	t.Run("ipcmk", func(t *testing.T) {
		id := ipcmk(t, 64)
		addr := "sysv-id:" + id
		if err := shmbuf.StoreRaw(addr, []byte("ab\x00\x00"), 0); err != nil {
			t.Fatal(err)
		}
		checkTrimmed(t, addr, "ab")
	})
}

// needPython returns the Python interpreter (testenv.Python), or skips
// the test without it (see testenv.Missing).
func needPython(t *testing.T) string {
	t.Helper()
	return testenv.Python(t)
}

// ipcmk makes a System V segment of size bytes with ipcmk -M and returns
// its id; it is removed when the test ends. Without ipcmk the test skips
// (see testenv.Missing).
func ipcmk(t *testing.T, size int) string {
	t.Helper()
	p := testenv.Tool(t, "ipcmk")
	out, err := exec.Command(p, "-M", strconv.Itoa(size)).Output()
	if err != nil {
		t.Fatalf("ipcmk: %v", err)
	}
	_, id, ok := strings.Cut(string(out), "Shared memory id:")
	if !ok {
		t.Fatalf("ipcmk said %q", out)
	}
	id = strings.TrimSpace(id)
	t.Cleanup(func() { shmbuf.Remove("sysv-id:" + id) })
	return id
}
