package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Text output: names quoted as GNU ls quotes them, sizes for people.

// quoteName quotes s, when it needs it, as GNU ls's default
// --quoting-style=shell-escape does, so that a name with a newline or a
// control character takes one line and can be pasted into a shell: a
// name of plain characters is left as it is, one with shell
// metacharacters is put in single quotes ('a b'), or in double quotes when
// it holds a single quote and nothing else special ("it's"), and control
// characters and invalid UTF-8 are written $'\n' or $'\001'.
func quoteName(s string) string {
	if !needsQuotes(s) {
		return s
	}
	if !strings.ContainsRune(s, '\'') || !doubleQuotable(s) {
		return singleQuote(s)
	}
	return `"` + s + `"`
}

// needsQuotes reports whether s is not one shell word as it stands.
func needsQuotes(s string) bool {
	if s == "" || s == "{" || s == "}" || s[0] == '#' || s[0] == '~' {
		return true
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !printable(r, n) || strings.ContainsRune(" !\"$&()*;<=>[\\^`|'?", r) {
			return true
		}
		i += n
	}
	return false
}

// doubleQuotable reports whether every character of s means itself inside
// double quotes and needs nothing else: letters, digits, a space, a single
// quote, %+,-./:@]_ and printable non-ASCII characters.
func doubleQuotable(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case !printable(r, n):
			return false
		case r >= utf8.RuneSelf, 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune(" '%+,-./:@]_", r):
		default:
			return false
		}
	}
	return true
}

// singleQuote writes s in single quotes (where a single quote closes
// them, is written \' and opens them again) and runs of unprintable bytes
// as $'...' with C escapes.
func singleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	escaping := false // inside $'...'
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\'':
			b.WriteString(`'\''`)
			escaping = false
		case printable(r, n):
			if escaping {
				b.WriteString(`''`)
				escaping = false
			}
			b.WriteString(s[i : i+n])
		default:
			if !escaping {
				b.WriteString(`'$'`)
				escaping = true
			}
			for _, c := range []byte(s[i : i+n]) {
				b.WriteString(cEscape(c))
			}
		}
		i += n
	}
	b.WriteByte('\'')
	return b.String()
}

// printable reports whether the rune r, n bytes long, is shown as itself:
// valid UTF-8 and not a control character.
func printable(r rune, n int) bool {
	if r == utf8.RuneError && n <= 1 {
		return false
	}
	return r >= 0x20 && r != 0x7f && (r < 0x80 || r >= 0xa0)
}

// cEscape is the escape of byte c inside $'...'.
func cEscape(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	}
	return fmt.Sprintf(`\%03o`, c)
}

// humanSize renders a byte count for people, in binary units as sizes
// are given: 512, 64KiB, 1.5MiB, 4GiB. Like ls -h it rounds up, so that
// a size is never shown smaller than it is; exact multiples of a unit
// show no decimal.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if n%(1<<(10*(u+1))) == 0 {
		return strconv.FormatInt(n>>(10*(u+1)), 10) + units[u]
	}
	if v < 10 {
		return strconv.FormatFloat(ceilTo(v, 10), 'f', 1, 64) + units[u]
	}
	return strconv.FormatFloat(ceilTo(v, 1), 'f', 0, 64) + units[u]
}

// ceilTo rounds v up to a multiple of 1/per.
func ceilTo(v, per float64) float64 {
	w := v * per
	if c := float64(int64(w)); c < w {
		w = c + 1
	}
	return w / per
}

// sizeFormat renders sizes for text output: for people by default,
// exact bytes with --bytes.
type sizeFormat bool

func (exact sizeFormat) size(n int64) string {
	if exact {
		return strconv.FormatInt(n, 10)
	}
	return humanSize(n)
}

// when renders a time in text output: "never" for none (System V's zero
// times), RFC 3339 otherwise.
func when(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "never"
	}
	return t.Format(time.RFC3339Nano)
}

// JSON output.

// writeJSON prints the JSON objects parts as one object holding all their
// members, in order, indented: a SegmentInfo and what a command adds to
// it. The parts' member names must be distinct.
func writeJSON(w io.Writer, parts ...any) error {
	b, err := mergeJSON(parts...)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// mergeJSON marshals parts, each to a JSON object, and joins their
// members into one object.
func mergeJSON(parts ...any) ([]byte, error) {
	b := []byte{'{'}
	for _, p := range parts {
		m, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		if len(m) < 2 || m[0] != '{' || m[len(m)-1] != '}' {
			return nil, fmt.Errorf("JSON of %T is not an object", p)
		}
		if inner := m[1 : len(m)-1]; len(inner) > 0 {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, inner...)
		}
	}
	return append(b, '}'), nil
}
