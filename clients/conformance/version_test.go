package conformance_test

import (
	"encoding/binary"
	"hash/fnv"
	"os"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestVersion2Refused: a ring whose header says format version 2 (with a
// valid checksum) is refused by every language with a version error, and
// one of version 3 opens: version 2 processes would discard records that
// version 3 rings keep.
func TestVersion2Refused(t *testing.T) {
	t.Parallel()
	name := uniqueName(t, "version")
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	path := "/dev/shm/" + name
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 3 {
		t.Fatalf("Go wrote version %d, want 3", v)
	}
	// Every language opens version 3 (the reader times out on no data).
	for _, l := range langs {
		out := l.startRead(t, name)
		if !strings.Contains(out, "end timeout") {
			t.Fatalf("%s on a version 3 ring: %q, want a timeout", l, out)
		}
	}
	binary.LittleEndian.PutUint32(b[8:], 2)
	h := fnv.New64a()
	h.Write(b[:120])
	binary.LittleEndian.PutUint64(b[120:], h.Sum64())
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := shmbuf.OpenRing(name); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("Go opened a version 2 ring: %v, want a version error", err)
	}
	for _, l := range []lang{langC, langPython} {
		out := l.startRead(t, name)
		if !strings.Contains(strings.ToLower(out), "version") {
			t.Fatalf("%s on a version 2 ring: %q, want a version error", l, out)
		}
	}
}

// startRead runs lang's read role briefly and returns its output and
// error output together.
func (l lang) startRead(t *testing.T, name string) string {
	t.Helper()
	c := l.command(t, t.Context(), "read", name, "timeout-ms=200")
	out, _ := c.CombinedOutput()
	return string(out)
}
