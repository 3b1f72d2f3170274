package shmbuf_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

func TestParseAddress_Forms(t *testing.T) {
	long := strings.Repeat("n", 255)
	tests := []struct {
		in    string
		want  shmbuf.Address
		canon string
	}{
		{"", shmbuf.Address{Backend: shmbuf.POSIX, Name: "shared_buffer", Path: "/dev/shm/shared_buffer"}, "posix:shared_buffer"},
		{"frames", shmbuf.Address{Backend: shmbuf.POSIX, Name: "frames", Path: "/dev/shm/frames"}, "posix:frames"},
		{"posix:frames", shmbuf.Address{Backend: shmbuf.POSIX, Name: "frames", Path: "/dev/shm/frames"}, "posix:frames"},
		{"posix:/frames", shmbuf.Address{Backend: shmbuf.POSIX, Name: "frames", Path: "/dev/shm/frames"}, "posix:frames"},
		{"posix:a:b", shmbuf.Address{Backend: shmbuf.POSIX, Name: "a:b", Path: "/dev/shm/a:b"}, "posix:a:b"},
		{"posix:.hidden", shmbuf.Address{Backend: shmbuf.POSIX, Name: ".hidden", Path: "/dev/shm/.hidden"}, "posix:.hidden"},
		{long, shmbuf.Address{Backend: shmbuf.POSIX, Name: long, Path: "/dev/shm/" + long}, "posix:" + long},
		{"file:/var/tmp/seg", shmbuf.Address{Backend: shmbuf.File, Path: "/var/tmp/seg"}, "file:/var/tmp/seg"},
		{"file:/var/tmp/../tmp//seg/", shmbuf.Address{Backend: shmbuf.File, Path: "/var/tmp/seg"}, "file:/var/tmp/seg"},
		{"file:rel/seg", shmbuf.Address{Backend: shmbuf.File, Path: "rel/seg"}, "file:rel/seg"},
		{"sysv:1234", shmbuf.Address{Backend: shmbuf.SysV, Key: 1234}, "sysv:0x000004d2"},
		{"sysv:0x4d2", shmbuf.Address{Backend: shmbuf.SysV, Key: 1234}, "sysv:0x000004d2"},
		{"sysv:0XABCDEF01", shmbuf.Address{Backend: shmbuf.SysV, Key: -0x543210ff}, "sysv:0xabcdef01"},
		{"sysv:0xffffffff", shmbuf.Address{Backend: shmbuf.SysV, Key: -1}, "sysv:0xffffffff"},
		{"sysv:-1", shmbuf.Address{Backend: shmbuf.SysV, Key: -1}, "sysv:0xffffffff"},
		{"sysv:2147483647", shmbuf.Address{Backend: shmbuf.SysV, Key: 1<<31 - 1}, "sysv:0x7fffffff"},
		{"sysv-id:0", shmbuf.Address{Backend: shmbuf.SysV, ID: 0, ByID: true}, "sysv-id:0"},
		{"sysv-id:98307", shmbuf.Address{Backend: shmbuf.SysV, ID: 98307, ByID: true}, "sysv-id:98307"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := shmbuf.ParseAddress(tt.in)
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseAddress(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.canon {
				t.Fatalf("String() = %q, want %q", s, tt.canon)
			}
			// The canonical form is itself an address naming the same segment.
			again, err := shmbuf.ParseAddress(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseAddress(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

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

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"x", "shared_buffer", ".x", "a:b", "x..y", "name with spaces", strings.Repeat("n", 255)} {
		if err := shmbuf.ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "/", "x/", "a\x00", strings.Repeat("n", 256)} {
		if err := shmbuf.ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil, want error", bad)
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
	if got := (shmbuf.Address{}).String(); got != "invalid" {
		t.Errorf("zero Address String() = %q, want %q", got, "invalid")
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
