// Package bytesize reads and writes byte counts as people type them:
// 4096, 64KiB, 4MiB, 1GiB. The command line's size flags, the
// benchmark's record sizes and the library's messages share it.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// units are the suffixes Parse accepts, longest first so that "KiB" is
// tried before "B".
var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// Parse parses a positive byte count: "4096", "64KiB", "4MiB", "1GiB"
// (binary units; K, M and G mean the same, KB, MB and GB are decimal).
// Its error names s; callers wrap it in their own error kind.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	switch {
	case err != nil || t == "" || t[0] == '+':
		return 0, fmt.Errorf("%q is not a size (try 4096, 64KiB, 4MiB, 1GiB)", s)
	case n <= 0:
		return 0, fmt.Errorf("%q must be greater than zero", s)
	case n > (1<<62)/mult:
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// Format renders n with the largest binary unit that divides it.
func Format(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
