package shmbuf_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestRing_Sync: Sync flushes a file-backed ring and is a no-op on
// System V; a later process (here, a new mapping) reads the journal back
// whole; after Close, Sync says so.
func TestRing_Sync(t *testing.T) {
	addrs := []string{
		"file:" + filepath.Join(t.TempDir(), "journal"),
		uniqueName(t),
		fmt.Sprintf("sysv:0x%08x", 0x5e000000|uint32(os.Getpid()&0xffff)<<8|uint32(nextID()&0xff)),
	}
	for _, addr := range addrs {
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
		w, _ := r.NewWriter(shmbuf.WriterOptions{})
		w.Write([]byte("kept"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Sync(); err != nil {
			t.Fatalf("%s: Sync: %v", addr, err)
		}
		r.Close()
		if err := r.Sync(); !errors.Is(err, shmbuf.ErrClosed) {
			t.Fatalf("%s: Sync after Close: %v, want ErrClosed", addr, err)
		}
		r2, err := shmbuf.OpenRing(addr)
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := r2.NewReader(shmbuf.ReaderOptions{})
		if rec, err := rd.TryNext(); err != nil || string(rec) != "kept" {
			t.Fatalf("%s: read back %q, %v", addr, rec, err)
		}
		r2.Close()
	}
}
