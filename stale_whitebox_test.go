package shmbuf

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// The last write a snapshot or ring records decides its age, with the
// file's modification time when that is newer: these tests plant an old
// one, as a segment left for hours would hold.

func TestStale_RecordedWriteAges(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour)
	for _, backend := range []string{"posix", "sysv"} {
		t.Run("snapshot/"+backend, func(t *testing.T) {
			addr := whiteboxAddr(backend)
			s, err := CreateSnapshot(addr, CreateOptions{Size: 64})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(); Remove(addr) })
			if err := s.Publish([]byte("v")); err != nil {
				t.Fatal(err)
			}
			s.l.Ctl.LastWrite.Store(old.UnixNano())
			s.Close()
			checkAge(t, addr, old)
		})
		t.Run("ring/"+backend, func(t *testing.T) {
			r := whiteboxRing(t, backend, RingOptions{Size: 4096})
			w, err := r.NewWriter(WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("v")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			r.l.Ctl.LastWrite.Store(old.UnixNano())
			addr := r.addr
			r.Close()
			checkAge(t, addr, old)
		})
	}
}

// whiteboxAddr is a free address on backend ("posix" or "sysv").
func whiteboxAddr(backend string) string {
	if backend == "sysv" {
		return fmt.Sprintf("sysv:0x%08x", 0x5c000000|rand.Uint32N(1<<24))
	}
	return fmt.Sprintf("shmbuf-wb-%d-%d", os.Getpid(), rand.Uint64())
}

// checkAge wants the segment at addr, whose writers recorded a write at
// old, last written then once its file (if any) is as old, and now once
// the file is newer (touched). (Whether that makes it stale is
// TestStale_*'s business: here this process, its creator, is alive.)
func checkAge(t *testing.T, addr string, old time.Time) {
	t.Helper()
	a, err := ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend() != SysV {
		if err := os.Chtimes(a.Path(), old, old); err != nil {
			t.Fatal(err)
		}
	}
	u, err := usageAt(a)
	if err != nil {
		t.Fatal(err)
	}
	if !u.LastWrite.Equal(old) {
		t.Fatalf("recorded a write at %v: %+v", old, u)
	}
	if a.Backend() == SysV {
		return
	}
	now := time.Now()
	if err := os.Chtimes(a.Path(), now, now); err != nil {
		t.Fatal(err)
	}
	if u, err = usageAt(a); err != nil || u.LastWrite.Before(now.Add(-time.Second)) {
		t.Fatalf("touched now: %+v, %v", u, err)
	}
}

// usageAt is the Usage of the segment at a, as Usages gives it.
func usageAt(a Address) (*Usage, error) {
	info, err := statSegment(a)
	if err != nil {
		return nil, err
	}
	if u := Usages([]SegmentInfo{*info})[0]; u != nil {
		return u, nil
	}
	return nil, wrapErr("stat", a.String(), ErrNotExist, nil)
}
