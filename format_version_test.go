package shmbuf_test

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// TestFormat_Version1Refused: a segment of format version 1 (no pid
// namespaces, no liveness locks, an attached-writer counter) with an
// otherwise valid header is refused with ErrVersion, never used.
func TestFormat_Version1Refused(t *testing.T) {
	if layout.Version != 2 {
		t.Fatalf("layout.Version = %d: update this test with the format", layout.Version)
	}
	ring, snap := uniqueName(t), uniqueName(t)
	r, err := shmbuf.CreateRing(ring, shmbuf.RingOptions{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { shmbuf.Remove(ring) })
	s, err := shmbuf.CreateSnapshot(snap, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	t.Cleanup(func() { shmbuf.Remove(snap) })
	for _, addr := range []string{ring, snap} {
		patchSegment(t, addr, func(b []byte) {
			binary.LittleEndian.PutUint32(b[offVersion:], 1)
			h := fnv.New64a()
			h.Write(b[:offChecksum])
			binary.LittleEndian.PutUint64(b[offChecksum:], h.Sum64())
		})
	}
	if r, err := shmbuf.OpenRing(ring); !errors.Is(err, shmbuf.ErrVersion) {
		if r != nil {
			r.Close()
		}
		t.Errorf("OpenRing of a version 1 ring: %v, want ErrVersion", err)
	}
	if s, err := shmbuf.OpenSnapshot(snap); !errors.Is(err, shmbuf.ErrVersion) {
		if s != nil {
			s.Close()
		}
		t.Errorf("OpenSnapshot of a version 1 snapshot: %v, want ErrVersion", err)
	}
}
