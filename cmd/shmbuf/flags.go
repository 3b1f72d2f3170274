package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/shmbuf/shmbuf"
)

// parseMode parses a --mode value: octal permission bits such as 0600,
// 644 or 0o640.
func parseMode(s string) (os.FileMode, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	m, err := strconv.ParseUint(t, 8, 32)
	switch {
	case err != nil || t == "":
		return 0, usagef("--mode %q: want octal permission bits such as 0600 or 0644", s)
	case m > 0o777:
		return 0, usagef("--mode %q: only permission bits (at most 0777) are allowed", s)
	case m&0o600 != 0o600:
		return 0, usagef("--mode %q: the owner must keep read and write permission (0600)", s)
	}
	return os.FileMode(m), nil
}

// kindAuto is the --kind value that means "whatever the segment is".
const kindAuto = "auto"

// parseKindFlag parses --kind for read and write: auto (the zero Kind) or
// a kind the segment must have.
func parseKindFlag(s string) (shmbuf.Kind, error) {
	if s == kindAuto || s == "" {
		return shmbuf.KindUnknown, nil
	}
	return shmbuf.ParseKind(s)
}

// kindName renders a kind for people: "-" for a segment shmbuf did not
// mark, which is read and written as raw bytes.
func kindName(k string) string {
	if k == "" {
		return "-"
	}
	return k
}
