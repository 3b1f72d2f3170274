package bytesize_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf/internal/bytesize"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1", 1},
		{"4096", 4096},
		{"64KiB", 64 << 10},
		{"4MiB", 4 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"8K", 8 << 10},
		{"3M", 3 << 20},
		{"1G", 1 << 30},
		{"1KB", 1000},
		{"5MB", 5_000_000},
		{"2GB", 2_000_000_000},
		{"10B", 10},
		{" 64KiB ", 64 << 10},
		{"64 KiB", 64 << 10},
		{"007", 7},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := bytesize.Parse(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	for _, in := range []string{
		"", " ", "0", "-1", "-0", "0KiB", "-4KiB", "+5", "12XB", "1.5MiB", "1e3", "0x10",
		"KiB", "B", "abc", "64kib", "64 K iB", "4096 bytes", "1 2", "64KiB!",
		"9223372036854775807", "99999999999999999999", "9999999999GiB", "5000000TiB",
	} {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			n, err := bytesize.Parse(in)
			if err == nil {
				t.Fatalf("Parse(%q) = %d, want error", in, n)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, strconv.Quote(in)) {
				t.Fatalf("message %q: want one line naming %q", msg, in)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1023, "1023"},
		{1024, "1KiB"},
		{4096, "4KiB"},
		{64 << 10, "64KiB"},
		{1536, "1536"},
		{1 << 20, "1MiB"},
		{3<<20 + 1024, "3073KiB"},
		{1 << 30, "1GiB"},
		{1 << 40, "1024GiB"},
	}
	for _, tt := range tests {
		if got := bytesize.Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in > 0 {
			if back, err := bytesize.Parse(tt.want); err != nil || back != tt.in {
				t.Errorf("Parse(Format(%d)) = %d, %v", tt.in, back, err)
			}
		}
	}
}

// FuzzParse checks that sizes either parse to a positive count or fail.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"4096", "64KiB", "4MiB", "1GiB", "12XB", "-1", "0", "", "1.5MiB", "99999999999GiB", " 7 K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := bytesize.Parse(s)
		if err == nil && n <= 0 {
			t.Fatalf("Parse(%q) = %d", s, n)
		}
	})
}
