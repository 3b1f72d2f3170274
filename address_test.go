package shmbuf_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// addrParts is what an Address's accessors return.
type addrParts struct {
	backend    shmbuf.Backend
	name, path string
	key        int32
	id         int
}

func partsOf(a shmbuf.Address) addrParts {
	return addrParts{a.Backend(), a.Name(), a.Path(), a.Key(), a.ID()}
}

func TestParseAddress_Forms(t *testing.T) {
	long := strings.Repeat("n", 255)
	posix := func(name string) addrParts { return addrParts{shmbuf.POSIX, name, "/dev/shm/" + name, 0, -1} }
	file := func(path string) addrParts { return addrParts{shmbuf.File, "", path, 0, -1} }
	key := func(k int32) addrParts { return addrParts{shmbuf.SysV, "", "", k, -1} }
	id := func(id int) addrParts { return addrParts{shmbuf.SysV, "", "", 0, id} }
	tests := []struct {
		in    string
		want  addrParts
		canon string
	}{
		{"", posix("shared_buffer"), "posix:shared_buffer"},
		{"frames", posix("frames"), "posix:frames"},
		{"posix:frames", posix("frames"), "posix:frames"},
		{"posix:/frames", posix("frames"), "posix:frames"},
		{"posix:a:b", posix("a:b"), "posix:a:b"},
		{"posix:.hidden", posix(".hidden"), "posix:.hidden"},
		{long, posix(long), "posix:" + long},
		{"file:/var/tmp/seg", file("/var/tmp/seg"), "file:/var/tmp/seg"},
		{"file:/var/tmp/../tmp//seg/", file("/var/tmp/seg"), "file:/var/tmp/seg"},
		{"file:rel/seg", file("rel/seg"), "file:rel/seg"},
		{"sysv:1234", key(1234), "sysv:0x000004d2"},
		{"sysv:0x4d2", key(1234), "sysv:0x000004d2"},
		{"sysv:0XABCDEF01", key(-0x543210ff), "sysv:0xabcdef01"},
		{"sysv:0xffffffff", key(-1), "sysv:0xffffffff"},
		{"sysv:-1", key(-1), "sysv:0xffffffff"},
		{"sysv:2147483647", key(1<<31 - 1), "sysv:0x7fffffff"},
		{"sysv-id:0", id(0), "sysv-id:0"},
		{"sysv-id:98307", id(98307), "sysv-id:98307"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := shmbuf.ParseAddress(tt.in)
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.in, err)
			}
			if p := partsOf(got); p != tt.want {
				t.Fatalf("ParseAddress(%q) = %+v, want %+v", tt.in, p, tt.want)
			}
			if s := got.String(); s != tt.canon {
				t.Fatalf("String() = %q, want %q", s, tt.canon)
			}
			// The canonical form is itself an address naming the same
			// segment, and equal Addresses compare equal.
			again, err := shmbuf.ParseAddress(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseAddress(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

// TestAddress_Constructors: each form's constructor builds what
// ParseAddress builds from its text, and refuses what it refuses.
func TestAddress_Constructors(t *testing.T) {
	must := func(a shmbuf.Address, err error) shmbuf.Address {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	parse := func(s string) shmbuf.Address { return must(shmbuf.ParseAddress(s)) }
	for _, tt := range []struct {
		got  shmbuf.Address
		want string
	}{
		{must(shmbuf.PosixAddress("frames")), "frames"},
		{must(shmbuf.PosixAddress("a:b")), "posix:a:b"}, // ParseAddress("a:b") is scheme "a"
		{must(shmbuf.FileAddress("/var/tmp/../tmp/seg")), "file:/var/tmp/seg"},
		{must(shmbuf.SysVKeyAddress(0x4d2)), "sysv:1234"},
		{must(shmbuf.SysVKeyAddress(-1)), "sysv:0xffffffff"},
		{must(shmbuf.SysVIDAddress(7)), "sysv-id:7"},
	} {
		if want := parse(tt.want); tt.got != want {
			t.Errorf("%v != ParseAddress(%q) = %v", tt.got, tt.want, want)
		}
	}
	for name, tt := range map[string]struct {
		err  error
		want error
	}{
		"PosixAddress(\"\")":     {second(shmbuf.PosixAddress("")), shmbuf.ErrInvalidName},
		"PosixAddress(\"/x\")":   {second(shmbuf.PosixAddress("/x")), shmbuf.ErrInvalidName},
		"PosixAddress(\"a/b\")":  {second(shmbuf.PosixAddress("a/b")), shmbuf.ErrInvalidName},
		"PosixAddress(\"..\")":   {second(shmbuf.PosixAddress("..")), shmbuf.ErrInvalidName},
		"FileAddress(\"\")":      {second(shmbuf.FileAddress("")), shmbuf.ErrInvalidAddress},
		"FileAddress(\"/\")":     {second(shmbuf.FileAddress("/")), shmbuf.ErrInvalidAddress},
		"SysVKeyAddress(0)":      {second(shmbuf.SysVKeyAddress(0)), shmbuf.ErrInvalidAddress},
		"SysVIDAddress(-1)":      {second(shmbuf.SysVIDAddress(-1)), shmbuf.ErrInvalidAddress},
		"SysVIDAddress(1 << 40)": {second(shmbuf.SysVIDAddress(1 << 40)), shmbuf.ErrInvalidAddress},
	} {
		var se *shmbuf.Error
		if !errors.Is(tt.err, tt.want) || !errors.As(tt.err, &se) {
			t.Errorf("%s: %v, want a *shmbuf.Error with %v", name, tt.err, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestParseAddress_Invalid(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"../x", shmbuf.ErrInvalidName},
		{"a/b", shmbuf.ErrInvalidName},
		{"/dev/shm/x", shmbuf.ErrInvalidName},
		{"posix:", shmbuf.ErrInvalidName},
		{"posix:../x", shmbuf.ErrInvalidName},
		{"posix:/", shmbuf.ErrInvalidName},
		{"posix://x", shmbuf.ErrInvalidName},
		{"posix:/a/b", shmbuf.ErrInvalidName},
		{strings.Repeat("n", 256), shmbuf.ErrInvalidName},
		{strings.Repeat("n", 300), shmbuf.ErrInvalidName},
		{"a\x00b", shmbuf.ErrInvalidName},
		{"posix:a\x00", shmbuf.ErrInvalidName},
		{".", shmbuf.ErrInvalidName},
		{"..", shmbuf.ErrInvalidName},
		{"posix:.", shmbuf.ErrInvalidName},
		{"posix:..", shmbuf.ErrInvalidName},
		{"shm:x", shmbuf.ErrInvalidAddress},
		{"http://x", shmbuf.ErrInvalidAddress},
		{"POSIX:x", shmbuf.ErrInvalidAddress},
		{":x", shmbuf.ErrInvalidAddress},
		{"sysvid:1", shmbuf.ErrInvalidAddress},
		{"file:", shmbuf.ErrInvalidAddress},
		{"file:/", shmbuf.ErrInvalidAddress},
		{"file:/tmp/..", shmbuf.ErrInvalidAddress},
		{"file:.", shmbuf.ErrInvalidAddress},
		{"file:..", shmbuf.ErrInvalidAddress},
		{"file:/tmp/a\x00b", shmbuf.ErrInvalidAddress},
		{"sysv:", shmbuf.ErrInvalidAddress},
		{"sysv:0", shmbuf.ErrInvalidAddress},
		{"sysv:0x0", shmbuf.ErrInvalidAddress},
		{"sysv:key", shmbuf.ErrInvalidAddress},
		{"sysv:12ab", shmbuf.ErrInvalidAddress},
		{"sysv:1.5", shmbuf.ErrInvalidAddress},
		{"sysv: 5", shmbuf.ErrInvalidAddress},
		{"sysv:0x100000000", shmbuf.ErrInvalidAddress},
		{"sysv:4294967296", shmbuf.ErrInvalidAddress},
		{"sysv:-2147483649", shmbuf.ErrInvalidAddress},
		{"sysv:99999999999999999999", shmbuf.ErrInvalidAddress},
		{"sysv-id:", shmbuf.ErrInvalidAddress},
		{"sysv-id:-1", shmbuf.ErrInvalidAddress},
		{"sysv-id:0x10", shmbuf.ErrInvalidAddress},
		{"sysv-id:abc", shmbuf.ErrInvalidAddress},
		{"sysv-id:2147483648", shmbuf.ErrInvalidAddress},
		{"sysv-id:1.0", shmbuf.ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			a, err := shmbuf.ParseAddress(tt.in)
			if err == nil {
				t.Fatalf("ParseAddress(%q) = %+v, want error", tt.in, a)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseAddress(%q) = %v, want %v", tt.in, err, tt.want)
			}
			var se *shmbuf.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not *shmbuf.Error", err)
			}
			checkOneLine(t, err, strconv.Quote(tt.in))
		})
	}
}

// TestParseAddress_Names: what a name may hold, as /dev/shm allows it.
func TestParseAddress_Names(t *testing.T) {
	for _, ok := range []string{"x", "shared_buffer", ".x", "a:b", "x..y", "name with spaces", strings.Repeat("n", 255)} {
		if _, err := shmbuf.PosixAddress(ok); err != nil {
			t.Errorf("PosixAddress(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "/", "x/", "a\x00", strings.Repeat("n", 256)} {
		_, err := shmbuf.PosixAddress(bad)
		if !errors.Is(err, shmbuf.ErrInvalidName) {
			t.Errorf("PosixAddress(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestBackend_String(t *testing.T) {
	for b, want := range map[shmbuf.Backend]string{
		shmbuf.POSIX: "posix", shmbuf.File: "file", shmbuf.SysV: "sysv", 0: "backend(0)", 9: "backend(9)",
	} {
		if got := b.String(); got != want {
			t.Errorf("Backend(%d).String() = %q, want %q", int(b), got, want)
		}
	}
	var zero shmbuf.Address
	if got := zero.String(); got != "invalid" {
		t.Errorf("zero Address String() = %q, want %q", got, "invalid")
	}
	if p := partsOf(zero); p != (addrParts{0, "", "", 0, -1}) {
		t.Errorf("zero Address = %+v", p)
	}
}

// checkOneLine asserts that err prints as one line starting "shmbuf: " that
// mentions want (an address or the input that named it).
func checkOneLine(t testing.TB, err error, want string) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error message spans lines: %q", msg)
	}
	if !strings.HasPrefix(msg, "shmbuf: ") {
		t.Errorf("error message %q does not start with \"shmbuf: \"", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error message %q does not name %q", msg, want)
	}
}
