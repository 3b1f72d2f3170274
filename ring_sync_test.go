package shmbuf_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestRing_JournalHole: a file: ring whose pages did not all reach the
// disk before a crash of the machine (here: a record header zeroed in the
// file, the stream ended and no writer left) gives its readers and
// observers the records before the hole, then ErrCorrupt, instead of a
// wait for ever at the hole.
func TestRing_JournalHole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal")
	addr := "file:" + path
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096, Readers: 2, Writers: 2})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	for _, s := range []string{"one", "two", "three"} {
		w.Write([]byte(s))
	}
	w.Close()
	r.Close()
	// The data area follows the header (128), the control block (192)
	// and four slots of 64; "one" takes 24 bytes, so "two" starts at 24.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 16), 128+192+4*64+24); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err = shmbuf.OpenRing(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	ob, _ := r.NewObserver(shmbuf.ObserverOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rec, err := rd.Next(ctx); err != nil || string(rec) != "one" {
		t.Fatalf("reader: first record %q, %v", rec, err)
	}
	if rec, err := ob.Next(ctx); err != nil || string(rec) != "one" {
		t.Fatalf("observer: first record %q, %v", rec, err)
	}
	if _, err := rd.TryNext(); !errors.Is(err, shmbuf.ErrCorrupt) {
		t.Errorf("reader TryNext at the hole: %v, want ErrCorrupt", err)
	}
	if _, err := ob.TryNext(); !errors.Is(err, shmbuf.ErrCorrupt) {
		t.Errorf("observer TryNext at the hole: %v, want ErrCorrupt", err)
	}
	if _, err := rd.Next(ctx); !errors.Is(err, shmbuf.ErrCorrupt) {
		t.Errorf("reader Next at the hole: %v, want ErrCorrupt", err)
	}
	if _, err := ob.Next(ctx); !errors.Is(err, shmbuf.ErrCorrupt) {
		t.Errorf("observer Next at the hole: %v, want ErrCorrupt", err)
	}
}
