package shmbuf_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// FuzzParseAddress checks that any string either parses to an address
// whose canonical form parses back to the same address, or fails with one
// of the address sentinels. It never panics.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"", "shared_buffer", "posix:x", "file:/tmp/a", "sysv:0x1234",
		"sysv:-1", "sysv-id:7", "../x", "a/b", "x\x00y", "ftp:x", "sysv:", "file:", strings.Repeat("n", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := shmbuf.ParseAddress(s)
		if err != nil {
			if !errors.Is(err, shmbuf.ErrInvalidAddress) && !errors.Is(err, shmbuf.ErrInvalidName) {
				t.Fatalf("ParseAddress(%q) = %v, not an address error", s, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		b, err := shmbuf.ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %+v; canonical %q parses to %+v, %v", s, a, a.String(), b, err)
		}
	})
}

// FuzzOpenSnapshot writes arbitrary bytes into a /dev/shm file and opens
// and reads it as a snapshot: every outcome is a value or an error, never
// a panic or a read outside the mapping.
func FuzzOpenSnapshot(f *testing.F) {
	// Fuzz workers are separate processes: the pid keeps their files apart.
	name := fmt.Sprintf("shmbuf-fuzz-snapshot-%d", os.Getpid())
	seedName := name + "-seed"
	s, err := shmbuf.CreateSnapshot(seedName, shmbuf.CreateOptions{Size: 40, Force: true})
	if err != nil {
		f.Fatal(err)
	}
	s.Publish([]byte("seed value"))
	s.Close()
	valid, err := os.ReadFile(shmbuf.ShmDir + "/" + seedName)
	shmbuf.Remove(seedName)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:130])
	f.Add([]byte("SHMBUF\x00\x00"))
	f.Add([]byte{})
	path := shmbuf.ShmDir + "/" + name
	f.Cleanup(func() { os.Remove(path) })
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := shmbuf.OpenSnapshot(name)
		if err != nil {
			return
		}
		defer s.Close()
		v, _, err := s.Load(nil)
		if err == nil && len(v) > s.Capacity() {
			t.Fatalf("Load returned %d bytes, capacity %d", len(v), s.Capacity())
		}
	})
}

// FuzzOpenRing writes arbitrary bytes into a /dev/shm file and opens it as
// a ring, attaches a reader and reads what it can without waiting: every
// outcome is a record or an error, never a panic.
func FuzzOpenRing(f *testing.F) {
	name := fmt.Sprintf("shmbuf-fuzz-ring-open-%d", os.Getpid())
	seedName := name + "-seed"
	r, err := shmbuf.CreateRing(seedName, shmbuf.RingOptions{Size: 256, MaxRecord: 64, Readers: 1, Writers: 1, Force: true})
	if err != nil {
		f.Fatal(err)
	}
	if w, err := r.NewWriter(shmbuf.WriterOptions{}); err == nil {
		w.Write([]byte("seed record"))
		w.Close()
	}
	r.Close()
	valid, err := os.ReadFile(shmbuf.ShmDir + "/" + seedName)
	shmbuf.Remove(seedName)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:200])
	f.Add([]byte("SHMBUF\x00\x00"))
	path := shmbuf.ShmDir + "/" + name
	f.Cleanup(func() { os.Remove(path) })
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := shmbuf.OpenRing(name)
		if err != nil {
			return
		}
		defer r.Close()
		r.Stat()
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			return
		}
		defer rd.Close()
		for range 16 {
			rec, err := rd.TryNext()
			if err != nil {
				return
			}
			if len(rec) > r.MaxRecord() {
				t.Fatalf("record of %d bytes, max %d", len(rec), r.MaxRecord())
			}
		}
	})
}
