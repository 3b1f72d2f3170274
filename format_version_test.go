package shmbuf_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// TestFormat_OlderVersionsRefused: a segment of an older format version
// with an otherwise valid header is refused with ErrVersion, never used:
// version 1 (no pid namespaces, no liveness locks, an attached-writer
// counter) and version 2 (rings whose readers consume records by moving
// Head, and no ReadMark).
func TestFormat_OlderVersionsRefused(t *testing.T) {
	if layout.Version != 3 {
		t.Fatalf("layout.Version = %d: update this test with the format", layout.Version)
	}
	for _, v := range []uint32{1, 2} {
		t.Run(fmt.Sprint("version", v), func(t *testing.T) { testVersionRefused(t, v) })
	}
}

func testVersionRefused(t *testing.T, v uint32) {
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
			binary.LittleEndian.PutUint32(b[offVersion:], v)
			h := fnv.New64a()
			h.Write(b[:offChecksum])
			binary.LittleEndian.PutUint64(b[offChecksum:], h.Sum64())
		})
	}
	if r, err := shmbuf.OpenRing(ring); !errors.Is(err, shmbuf.ErrVersion) {
		if r != nil {
			r.Close()
		}
		t.Errorf("OpenRing of a version %d ring: %v, want ErrVersion", v, err)
	}
	if s, err := shmbuf.OpenSnapshot(snap); !errors.Is(err, shmbuf.ErrVersion) {
		if s != nil {
			s.Close()
		}
		t.Errorf("OpenSnapshot of a version %d snapshot: %v, want ErrVersion", v, err)
	}
}
