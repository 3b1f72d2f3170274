package shmbuf_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// segmentContent returns every byte of the segment at addr, as another
// program would see it: the file for posix and file, the mapping for sysv.
func segmentContent(t *testing.T, addr string) []byte {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend() != shmbuf.SysV {
		b, err := os.ReadFile(a.Path())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s, err := shmbuf.OpenSegment(a, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return bytes.Clone(s.Bytes())
}

func mustLoadRaw(t *testing.T, r *shmbuf.Raw) []byte {
	t.Helper()
	v, err := r.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return v
}

func padded(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// TestRaw_StoreResizable checks the classic workflow: StoreRaw creates a
// segment whose file holds exactly the value, and each store replaces it.
func TestRaw_StoreResizable(t *testing.T) {
	for _, b := range segBackends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.addr(t)
			path := filePath(t, addr)
			values := []string{
				"hello\n",
				"a much longer value than the first one, to grow the file\n",
				"short",
				"",
				"trailing NULs are content here\x00\x00",
				strings.Repeat("big ", 100_000),
				"\x00",
				"bye\n",
			}
			for i, v := range values {
				if err := shmbuf.StoreRaw(addr, []byte(v), 0); err != nil {
					t.Fatalf("StoreRaw #%d: %v", i, err)
				}
				got, err := os.ReadFile(path)
				if err != nil || string(got) != v {
					t.Fatalf("file after StoreRaw #%d = %d bytes %.40q, %v; want %d bytes %.40q", i, len(got), got, err, len(v), v)
				}
				r, err := shmbuf.OpenRaw(addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Fixed() {
					t.Fatal("a segment StoreRaw created is fixed")
				}
				if got := mustLoadRaw(t, r); string(got) != v {
					t.Fatalf("Load #%d = %.40q, want %.40q", i, got, v)
				}
				r.Close()
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode() != 0o600 {
				t.Fatalf("mode %v (%v), want 0600", fi.Mode(), err)
			}
			if k, err := kindAt(addr); err != nil || k != shmbuf.KindRaw {
				t.Fatalf("kind = %v, %v; want raw", k, err)
			}
			if info, err := shmbuf.Stat(addr); err != nil || info.Kind != shmbuf.KindRaw || !info.Lockable {
				t.Fatalf("Stat = %+v, %v", info, err)
			}
		})
	}
}

func TestRaw_StoreMode(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	addr := posixTestAddr(t)
	if err := shmbuf.StoreRaw(addr, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filePath(t, addr)); err != nil || fi.Mode() != 0o644 {
		t.Fatalf("mode %v (%v), want 0644", fi.Mode(), err)
	}
}

// TestRaw_Fixed checks fixed regions: in-place writes, zero padding,
// refusal of a value that does not fit, trimmed reads.
func TestRaw_Fixed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		const size = 4096
		r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if !r.Fixed() {
			t.Fatal("CreateRaw made a resizable segment")
		}
		if r.Addr().String() != canon(t, addr) {
			t.Fatalf("Addr %v", r.Addr())
		}
		if got := segmentContent(t, addr); !bytes.Equal(got, make([]byte, size)) {
			t.Fatal("new region is not zero")
		}
		if got := mustLoadRaw(t, r); len(got) != 0 {
			t.Fatalf("Load of a zero region = %q", got)
		}

		long := strings.Repeat("L", 1000)
		if err := r.Store([]byte(long)); err != nil {
			t.Fatal(err)
		}
		if got := segmentContent(t, addr); !bytes.Equal(got, padded(long, size)) {
			t.Fatal("content after Store is not the value zero-padded")
		}
		if err := r.Store([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		if got := segmentContent(t, addr); !bytes.Equal(got, padded("abc", size)) {
			t.Fatal("shorter Store left old bytes behind the value")
		}
		if got := mustLoadRaw(t, r); string(got) != "abc" {
			t.Fatalf("Load = %q, want abc", got)
		}

		err = r.Store(make([]byte, size+1))
		wantErr(t, "Store larger than the region", err, shmbuf.ErrTooLarge, addr)
		err = shmbuf.StoreRaw(addr, bytes.Repeat([]byte{'x'}, size+100), 0)
		wantErr(t, "StoreRaw larger than the region", err, shmbuf.ErrTooLarge, addr)
		if got := segmentContent(t, addr); !bytes.Equal(got, padded("abc", size)) {
			t.Fatal("refused Store changed the region")
		}

		full := bytes.Repeat([]byte{'F'}, size)
		if err := r.Store(full); err != nil {
			t.Fatalf("Store of exactly the region's size: %v", err)
		}
		if got := mustLoadRaw(t, r); !bytes.Equal(got, full) {
			t.Fatal("Load of a full region")
		}

		// Another handle, opened afresh, sees a fixed region too.
		if err := shmbuf.StoreRaw(addr, []byte("via StoreRaw\x00\x00"), 0); err != nil {
			t.Fatal(err)
		}
		o, err := shmbuf.OpenRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if !o.Fixed() {
			t.Fatal("reopened region is not fixed")
		}
		// A region shmbuf made records the value's length, so its
		// trailing NULs come back; System V has nowhere to record it.
		want := "via StoreRaw\x00\x00"
		if strings.HasPrefix(addr, "sysv:") {
			want = "via StoreRaw"
		}
		if got := mustLoadRaw(t, o); string(got) != want {
			t.Fatalf("Load = %q, want %q", got, want)
		}
		if got := segmentContent(t, addr); len(got) != size {
			t.Fatalf("region resized to %d", len(got))
		}
	})
}

// TestRaw_ForeignFile treats a file shmbuf did not create as a fixed region
// (it may be mapped by its creator), unless it is empty.
func TestRaw_ForeignFile(t *testing.T) {
	addr := posixTestAddr(t)
	path := filePath(t, addr)
	if err := os.WriteFile(path, padded("foreign", 128), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := shmbuf.OpenRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Fixed() {
		t.Fatal("a foreign non-empty file is not fixed")
	}
	if got := mustLoadRaw(t, r); string(got) != "foreign" {
		t.Fatalf("Load = %q", got)
	}
	if err := r.Store([]byte("mine")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, padded("mine", 128)) {
		t.Fatalf("file = %q", got)
	}
	wantErr(t, "Store too large", r.Store(make([]byte, 129)), shmbuf.ErrTooLarge, addr)
	if k, err := kindAt(addr); err != nil || k != shmbuf.KindUnknown {
		t.Fatalf("kind = %v, %v; want unknown", k, err)
	}

	empty := posixTestAddr(t)
	if err := os.WriteFile(filePath(t, empty), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := shmbuf.OpenRaw(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Fixed() {
		t.Fatal("an empty foreign file is fixed")
	}
	if err := e.Store([]byte("grown")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filePath(t, empty)); string(got) != "grown" {
		t.Fatalf("file = %q", got)
	}
}

// TestRaw_WrongKind refuses to treat a snapshot as raw bytes, which would
// destroy its header.
func TestRaw_WrongKind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Publish([]byte("value")); err != nil {
			t.Fatal(err)
		}
		_, err = shmbuf.OpenRaw(addr)
		wantErr(t, "OpenRaw", err, shmbuf.ErrWrongKind, addr)
		_, err = shmbuf.OpenRawReadOnly(addr)
		wantErr(t, "OpenRawReadOnly", err, shmbuf.ErrWrongKind, addr)
		wantErr(t, "StoreRaw", shmbuf.StoreRaw(addr, []byte("x"), 0), shmbuf.ErrWrongKind, addr)
		if v, _, err := s.Load(nil); err != nil || string(v) != "value" {
			t.Fatalf("snapshot after refused raw access: %q, %v", v, err)
		}
	})
}

func TestRaw_ReadOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		w, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Store([]byte("shared")); err != nil {
			t.Fatal(err)
		}
		r, err := shmbuf.OpenRawReadOnly(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got := mustLoadRaw(t, r); string(got) != "shared" {
			t.Fatalf("Load = %q", got)
		}
		wantErr(t, "Store through a read-only handle", r.Store([]byte("no")), shmbuf.ErrReadOnly, addr)
		if got := mustLoadRaw(t, w); string(got) != "shared" {
			t.Fatalf("refused Store changed the value: %q", got)
		}
	})
}

func TestRaw_Closed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 4096})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		wantErr(t, "Store after Close", r.Store([]byte("x")), shmbuf.ErrClosed, addr)
		_, err = r.Load()
		wantErr(t, "Load after Close", err, shmbuf.ErrClosed, addr)
	})
}

func TestRaw_SysVMissing(t *testing.T) {
	addr := sysvTestAddr(t)
	// A System V raw segment has a size only its creator knows: StoreRaw
	// does not make one up.
	wantErr(t, "StoreRaw on a missing sysv key", shmbuf.StoreRaw(addr, []byte("x"), 0), shmbuf.ErrNotExist, addr)
	_, err := shmbuf.OpenRaw(addr)
	wantErr(t, "OpenRaw", err, shmbuf.ErrNotExist, addr)
}

// TestRaw_HugeSparseFileRefused: a hostile file that claims a terabyte
// must give an error, not an allocation that kills the reader.
func TestRaw_HugeSparseFileRefused(t *testing.T) {
	name := uniqueName(t)
	path := shmbuf.ShmDir + "/" + name
	t.Cleanup(func() { os.Remove(path) })
	if err := shmbuf.StoreRaw(name, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 1<<40); err != nil {
		t.Fatal(err)
	}
	r, err := shmbuf.OpenRaw(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Load(); !errors.Is(err, shmbuf.ErrTooLarge) {
		t.Fatalf("Load of a 1 TiB sparse file = %v, want ErrTooLarge", err)
	}
}
