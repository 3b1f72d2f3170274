package shmbuf_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"golang.org/x/sys/unix"
)

// segBackend makes a fresh, unused address on one backend and arranges for
// whatever ends up there to be removed when the test ends.
type segBackend struct {
	name string
	addr func(t *testing.T) string
}

var segBackends = []segBackend{
	{"posix", posixTestAddr},
	{"file", fileTestAddr},
	{"sysv", sysvTestAddr},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, addr string)) {
	for _, b := range segBackends {
		t.Run(b.name, func(t *testing.T) { f(t, b.addr(t)) })
	}
}

// posixTestAddr returns posix:NAME for a unique NAME in /dev/shm.
func posixTestAddr(t *testing.T) string {
	t.Helper()
	name := uniqueName(t)
	t.Cleanup(func() { os.Remove(shmbuf.ShmDir + "/" + name) })
	return "posix:" + name
}

// fileTestAddr returns file:PATH inside the test's temporary directory.
func fileTestAddr(t *testing.T) string {
	t.Helper()
	return "file:" + filepath.Join(t.TempDir(), "seg")
}

// sysvTestAddr returns sysv:KEY for a random key no segment uses.
func sysvTestAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		var b [4]byte
		rand.Read(b[:])
		key := int32(binary.LittleEndian.Uint32(b[:]))
		if key == 0 || key == -1 {
			continue
		}
		if _, err := unix.SysvShmGet(int(key), 0, 0); !errors.Is(err, unix.ENOENT) {
			continue
		}
		addr := fmt.Sprintf("sysv:0x%08x", uint32(key))
		t.Cleanup(func() {
			// Remove by key until none is left: a test that recreated the
			// segment may have left more than one generation behind.
			for range 4 {
				if shmbuf.Remove(addr) != nil {
					return
				}
			}
		})
		return addr
	}
	t.Fatal("no free System V key found")
	return ""
}

// filePath returns the path of a posix or file address.
func filePath(t testing.TB, addr string) string {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.Path()
}

func canon(t testing.TB, addr string) string {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

func mustCreateSegment(t *testing.T, addr string, opts shmbuf.CreateOptions) *shmbuf.Segment {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shmbuf.CreateSegment(a, opts)
	if err != nil {
		t.Fatalf("CreateSegment(%s, %+v): %v", addr, opts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openSegment(t *testing.T, addr string, readOnly bool) (*shmbuf.Segment, error) {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shmbuf.OpenSegment(a, readOnly)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// wantErr fails unless err matches sentinel and prints as one line naming
// addr's canonical form.
func wantErr(t testing.TB, what string, err, sentinel error, addr string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: got %v, want %v", what, err, sentinel)
	}
	checkOneLine(t, err, canon(t, addr))
}

func TestSegment_CreateOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		const size = 8192
		s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: size})
		if s.Size() != size || len(s.Bytes()) != size || s.ReadOnly() {
			t.Fatalf("Size %d, len %d, ReadOnly %v", s.Size(), len(s.Bytes()), s.ReadOnly())
		}
		if s.Addr().String() != canon(t, addr) {
			t.Fatalf("Addr %v, want %s", s.Addr(), canon(t, addr))
		}
		if !bytes.Equal(s.Bytes(), make([]byte, size)) {
			t.Fatal("new segment is not zero")
		}
		copy(s.Bytes(), "pattern")
		s.Bytes()[size-1] = 0xAB

		info, err := shmbuf.Stat(addr)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != size || info.Mode != 0o600 || info.UID != os.Getuid() || info.GID != os.Getgid() {
			t.Fatalf("Stat = size %d mode %v uid %d gid %d; want %d 0600 %d %d",
				info.Size, info.Mode, info.UID, info.GID, size, os.Getuid(), os.Getgid())
		}
		if info.Addr.String() != canon(t, addr) || info.Kind != shmbuf.KindUnknown {
			t.Fatalf("Stat Addr %v Kind %q", info.Addr, info.Kind)
		}
		if info.ModTime.IsZero() || info.ChangeTime.IsZero() {
			t.Fatalf("Stat times missing: %+v", info)
		}

		o, err := openSegment(t, addr, false)
		if err != nil {
			t.Fatal(err)
		}
		if o.Size() != size || !bytes.HasPrefix(o.Bytes(), []byte("pattern")) || o.Bytes()[size-1] != 0xAB {
			t.Fatal("second mapping does not see the first one's writes")
		}
		o.Bytes()[1] = 'A'
		if s.Bytes()[1] != 'A' {
			t.Fatal("first mapping does not see the second one's writes")
		}
		ro, err := openSegment(t, addr, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ro.ReadOnly() || ro.Bytes()[0] != 'p' {
			t.Fatalf("read-only open: ReadOnly %v", ro.ReadOnly())
		}

		if s.Addr().Backend() == shmbuf.SysV {
			if info.Lockable || info.ID < 0 || info.CreatorPid != os.Getpid() {
				t.Fatalf("sysv Stat: %+v", info)
			}
			if info.Key != s.Addr().Key() {
				t.Fatalf("Stat Key %#x, want %#x", info.Key, s.Addr().Key())
			}
			// s, o and ro are attached.
			attachedSettles(t, addr, 3, "with three mappings")
			ro.Close()
			o.Close()
			info = attachedSettles(t, addr, 1, "after two Close")
			// The same segment by id.
			byID, err := openSegment(t, "sysv-id:"+strconv.Itoa(info.ID), false)
			if err != nil {
				t.Fatal(err)
			}
			if byID.Bytes()[0] != 'p' || byID.Size() != size {
				t.Fatal("sysv-id: does not name the same segment")
			}
		} else {
			if !info.Lockable || info.Attached != -1 {
				t.Fatalf("file Stat: %+v", info)
			}
			fi, err := os.Lstat(filePath(t, addr))
			if err != nil || fi.Size() != size || fi.Mode() != 0o600 {
				t.Fatalf("the file: %v %v", fi, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if s.Bytes() != nil {
			t.Fatal("Bytes after Close is not nil")
		}
	})
}

func TestSegment_ModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, tt := range []struct {
		mode, want os.FileMode
	}{{0, 0o600}, {0o644, 0o644}, {0o666, 0o666}, {0o640, 0o640}} {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, addr string) {
				s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 4096, Mode: tt.mode})
				info, err := shmbuf.Stat(addr)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode != tt.want {
					t.Fatalf("mode %v, want %v", info.Mode, tt.want)
				}
				if s.Addr().Backend() != shmbuf.SysV {
					if fi, err := os.Stat(filePath(t, addr)); err != nil || fi.Mode().Perm() != tt.want {
						t.Fatalf("file mode %v, %v; want %v", fi.Mode(), err, tt.want)
					}
				}
			})
		})
	}
}

func TestSegment_Exclusive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		a, _ := shmbuf.ParseAddress(addr)
		s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 4096})
		copy(s.Bytes(), "first")
		s.Close()

		_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 8192})
		wantErr(t, "second create", err, shmbuf.ErrExist, addr)
		o, err := openSegment(t, addr, false)
		if err != nil {
			t.Fatal(err)
		}
		if o.Size() != 4096 || !bytes.HasPrefix(o.Bytes(), []byte("first")) {
			t.Fatal("refused create changed the segment")
		}
		o.Close()

		f := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 8192, Force: true})
		if f.Size() != 8192 || !bytes.Equal(f.Bytes(), make([]byte, 8192)) {
			t.Fatal("forced create did not give a fresh zero segment")
		}
		info, err := shmbuf.Stat(addr)
		if err != nil || info.Size != 8192 {
			t.Fatalf("after Force: %+v, %v", info, err)
		}
	})
}

func TestSegment_InvalidSize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		a, _ := shmbuf.ParseAddress(addr)
		for _, size := range []int64{0, -1, -4096} {
			_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: size})
			wantErr(t, fmt.Sprintf("create size %d", size), err, shmbuf.ErrInvalidSize, addr)
		}
		_, err := shmbuf.Stat(addr)
		wantErr(t, "stat after refused create", err, shmbuf.ErrNotExist, addr)
	})
}

// TestSegment_NoSpace asks for more than the file system holds: the create
// fails with ErrNoSpace and leaves nothing behind.
func TestSegment_NoSpace(t *testing.T) {
	for _, b := range segBackends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.addr(t)
			path := filePath(t, addr)
			var fs unix.Statfs_t
			if err := unix.Statfs(filepath.Dir(path), &fs); err != nil {
				t.Fatal(err)
			}
			size := int64(fs.Bavail)*fs.Bsize + 1<<30
			a, _ := shmbuf.ParseAddress(addr)
			_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: size})
			wantErr(t, "create larger than the file system", err, shmbuf.ErrNoSpace, addr)
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("refused create left %s behind: %v", path, err)
			}
			_, err = shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: size})
			wantErr(t, "snapshot larger than the file system", err, shmbuf.ErrNoSpace, addr)
			_, err = shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: size})
			wantErr(t, "raw larger than the file system", err, shmbuf.ErrNoSpace, addr)
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("refused create left %s behind: %v", path, err)
			}
		})
	}
	t.Run("sysv", func(t *testing.T) {
		addr := sysvTestAddr(t)
		a, _ := shmbuf.ParseAddress(addr)
		_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 1 << 55})
		if !errors.Is(err, shmbuf.ErrNoSpace) && !errors.Is(err, shmbuf.ErrInvalidSize) {
			t.Fatalf("huge sysv create: %v, want ErrNoSpace or ErrInvalidSize", err)
		}
		checkOneLine(t, err, canon(t, addr))
		_, err = shmbuf.Stat(addr)
		wantErr(t, "stat after refused create", err, shmbuf.ErrNotExist, addr)
	})
}

// TestSegment_Reserved checks that creation allocates the file's blocks
// (fallocate), so a later store cannot meet a full tmpfs.
func TestSegment_Reserved(t *testing.T) {
	for _, b := range segBackends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.addr(t)
			const size = 1 << 20
			mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: size})
			var st unix.Stat_t
			if err := unix.Stat(filePath(t, addr), &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks*512 < size {
				t.Fatalf("%d bytes allocated for a %d-byte segment: space not reserved", st.Blocks*512, size)
			}
		})
	}
}

// TestSegment_Symlink plants a symbolic link where a segment would be and
// checks that no operation follows it or touches its target.
func TestSegment_Symlink(t *testing.T) {
	for _, b := range segBackends[:2] {
		for _, dangling := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dangling=%v", b.name, dangling), func(t *testing.T) {
				addr := b.addr(t)
				a, _ := shmbuf.ParseAddress(addr)
				target := filepath.Join(t.TempDir(), "target")
				const content = "the link's target, which must stay as it is"
				if !dangling {
					if err := os.WriteFile(target, []byte(content), 0o640); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(target, a.Path()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Remove(a.Path()) })

				ops := map[string]func() error{
					"OpenSegment": func() error { _, err := shmbuf.OpenSegment(a, false); return err },
					"OpenSegment read-only": func() error {
						_, err := shmbuf.OpenSegment(a, true)
						return err
					},
					"CreateSegment": func() error { _, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096}); return err },
					"CreateSegment Force": func() error {
						_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096, Force: true})
						return err
					},
					"Stat":            func() error { _, err := shmbuf.Stat(addr); return err },
					"Stat kind":       func() error { _, err := kindAt(addr); return err },
					"Remove":          func() error { return shmbuf.Remove(addr) },
					"OpenRaw":         func() error { _, err := shmbuf.OpenRaw(addr); return err },
					"OpenRawReadOnly": func() error { _, err := shmbuf.OpenRawReadOnly(addr); return err },
					"StoreRaw":        func() error { return shmbuf.StoreRaw(addr, []byte("hijack"), 0) },
					"CreateRaw Force": func() error {
						_, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 64, Force: true})
						return err
					},
					"OpenSnapshot": func() error { _, err := shmbuf.OpenSnapshot(addr); return err },
					"CreateSnapshot Force": func() error {
						_, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64, Force: true})
						return err
					},
				}
				for name, op := range ops {
					wantErr(t, name, op(), shmbuf.ErrSymlink, addr)
				}
				if got, err := os.Readlink(a.Path()); err != nil || got != target {
					t.Fatalf("the link changed: %q, %v", got, err)
				}
				fi, err := os.Lstat(target)
				if dangling {
					if !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a dangling link's target was created: %v", err)
					}
					return
				}
				got, _ := os.ReadFile(target)
				if err != nil || string(got) != content || fi.Mode() != 0o640 {
					t.Fatalf("target changed: %q mode %v (%v)", got, fi.Mode(), err)
				}
			})
		}
	}
}

// TestSegment_NotRegular opens FIFOs, directories and devices as segments.
func TestSegment_NotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, sub, "/dev/null"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			addr := "file:" + path
			a, _ := shmbuf.ParseAddress(addr)
			// Every one of these returns at once: opening a FIFO must not
			// wait for a peer.
			ops := map[string]func() error{
				"OpenSegment":           func() error { _, err := shmbuf.OpenSegment(a, false); return err },
				"OpenSegment read-only": func() error { _, err := shmbuf.OpenSegment(a, true); return err },
				"Stat":                  func() error { _, err := shmbuf.Stat(addr); return err },
				"OpenRaw":               func() error { _, err := shmbuf.OpenRaw(addr); return err },
				"OpenRawReadOnly":       func() error { _, err := shmbuf.OpenRawReadOnly(addr); return err },
				"StoreRaw":              func() error { return shmbuf.StoreRaw(addr, []byte("x"), 0) },
				"OpenSnapshot":          func() error { _, err := shmbuf.OpenSnapshot(addr); return err },
			}
			if path != "/dev/null" {
				// Never try to remove /dev/null, even to see it refused.
				ops["Remove"] = func() error { return shmbuf.Remove(addr) }
				ops["CreateSegment Force"] = func() error {
					_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096, Force: true})
					return err
				}
			}
			for name, op := range ops {
				wantErr(t, name, op(), shmbuf.ErrNotRegular, addr)
			}
			_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096})
			wantErr(t, "CreateSegment", err, shmbuf.ErrExist, addr)
			if fi, err := os.Lstat(path); err != nil || fi.Mode().IsRegular() {
				t.Fatalf("%s changed: %v %v", path, fi, err)
			}
		})
	}
}

func TestSegment_Remove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		a, _ := shmbuf.ParseAddress(addr)
		s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 4096})
		s.Close()
		if err := shmbuf.Remove(addr); err != nil {
			t.Fatal(err)
		}
		_, err := shmbuf.Stat(addr)
		wantErr(t, "Stat", err, shmbuf.ErrNotExist, addr)
		_, err = shmbuf.OpenSegment(a, false)
		wantErr(t, "OpenSegment", err, shmbuf.ErrNotExist, addr)
		wantErr(t, "second Remove", shmbuf.Remove(addr), shmbuf.ErrNotExist, addr)
		if msg := shmbuf.Remove(addr).Error(); !bytes.Contains([]byte(msg), []byte("no such segment")) {
			t.Fatalf("message %q does not say \"no such segment\"", msg)
		}
		if a.Backend() != shmbuf.SysV {
			if _, err := os.Lstat(a.Path()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("file still there: %v", err)
			}
		}
	})
}

// TestSegment_RemoveWhileMapped removes a segment another mapping still
// uses: the mapping stays valid, the name is gone.
func TestSegment_RemoveWhileMapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 4096})
		if err := shmbuf.Remove(addr); err != nil {
			t.Fatal(err)
		}
		copy(s.Bytes(), "still mapped")
		if !bytes.HasPrefix(s.Bytes(), []byte("still mapped")) {
			t.Fatal("mapping lost")
		}
		_, err := shmbuf.Stat(addr)
		wantErr(t, "Stat after Remove", err, shmbuf.ErrNotExist, addr)
	})
}

func TestSegment_SysVIDRemoved(t *testing.T) {
	addr := sysvTestAddr(t)
	s := mustCreateSegment(t, addr, shmbuf.CreateOptions{Size: 4096})
	info, err := shmbuf.Stat(addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := shmbuf.Remove(addr); err != nil {
		t.Fatal(err)
	}
	byID := "sysv-id:" + strconv.Itoa(info.ID)
	a, _ := shmbuf.ParseAddress(byID)
	_, err = shmbuf.OpenSegment(a, false)
	wantErr(t, "OpenSegment", err, shmbuf.ErrNotExist, byID)
	_, err = shmbuf.Stat(byID)
	wantErr(t, "Stat", err, shmbuf.ErrNotExist, byID)
	wantErr(t, "Remove", shmbuf.Remove(byID), shmbuf.ErrNotExist, byID)
	_, err = shmbuf.OpenRaw(byID)
	wantErr(t, "OpenRaw", err, shmbuf.ErrNotExist, byID)
	wantErr(t, "StoreRaw", shmbuf.StoreRaw(byID, []byte("x"), 0), shmbuf.ErrNotExist, byID)
	_, err = shmbuf.OpenSnapshot(byID)
	wantErr(t, "OpenSnapshot", err, shmbuf.ErrNotExist, byID)
	_, err = shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096})
	wantErr(t, "CreateSegment on sysv-id:", err, shmbuf.ErrInvalidAddress, byID)
}

func TestSegment_Missing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		for name, op := range map[string]func() error{
			"OpenSegment":  func() error { _, err := openSegment(t, addr, false); return err },
			"Stat":         func() error { _, err := shmbuf.Stat(addr); return err },
			"Stat kind":    func() error { _, err := kindAt(addr); return err },
			"Remove":       func() error { return shmbuf.Remove(addr) },
			"OpenRaw":      func() error { _, err := shmbuf.OpenRaw(addr); return err },
			"OpenSnapshot": func() error { _, err := shmbuf.OpenSnapshot(addr); return err },
		} {
			wantErr(t, name, op(), shmbuf.ErrNotExist, addr)
		}
	})
}

// attachedSettles returns Stat of a System V segment once its attach count
// is want. Another process may attach for a moment (a `shmbuf ls` in the
// command tests, which run in parallel, reads every segment's kind), so
// the count is polled for up to 2 s rather than read once.
func attachedSettles(t *testing.T, addr string, want int, when string) *shmbuf.SegmentInfo {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		info, err := shmbuf.Stat(addr)
		if err != nil {
			t.Fatal(err)
		}
		if info.Attached == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("Attached = %d %s, want %d", info.Attached, when, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
