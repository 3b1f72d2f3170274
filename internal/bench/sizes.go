package bench

import (
	"fmt"
	"strings"

	"github.com/shmbuf/shmbuf/internal/bytesize"
)

// sizeLabel renders a record size the way the table shows it: 64B, 1KiB.
func sizeLabel(n int) string {
	s := bytesize.Format(int64(n))
	if !strings.ContainsAny(s, "KMG") {
		s += "B"
	}
	return s
}

// parseSizes parses a comma-separated list of record sizes and checks each
// against the limits every transport shares.
func parseSizes(list string) ([]int, error) {
	var sizes []int
	seen := map[int]bool{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := bytesize.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("bad size %q: use a byte count like 64, 1KiB, 64KiB, 1MiB", f)
		}
		if n < MinSize {
			return nil, fmt.Errorf("size %s is below the minimum of %d bytes (a record carries an 8-byte sequence number)", f, MinSize)
		}
		if n > MaxSize {
			return nil, fmt.Errorf("size %s is above the largest ring record, %s", f, sizeLabel(MaxSize))
		}
		if !seen[int(n)] {
			seen[int(n)] = true
			sizes = append(sizes, int(n))
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("no sizes given")
	}
	return sizes, nil
}
