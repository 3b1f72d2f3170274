package layout

import (
	"testing"
	"unsafe"
)

// FuzzValidate feeds arbitrary bytes to the header checks and the kind
// overlays: every input either validates, with every derived area inside
// the buffer, or returns an error. Nothing panics.
func FuzzValidate(f *testing.F) {
	good := make([]byte, 4096)
	h, _ := HeaderOf(good)
	h.Kind = KindSnapshot
	h.SegmentSize = 4096
	h.Capacity = 100
	h.Publish()
	f.Add(good[:HeaderSize])
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Copy into an 8-aligned buffer, as a mapping is.
		words := make([]uint64, (len(data)+7)/8)
		b := make([]byte, 0)
		if len(words) > 0 {
			b = unsafeBytes(words)[:len(data)]
		}
		copy(b, data)
		h, err := HeaderOf(b)
		if err != nil {
			return
		}
		h.Validate(len(b), 0, nil)
		if s, err := SnapshotOf(b); err == nil {
			for i := range 2 {
				if uint64(len(s.Data[i])) != s.Capacity {
					t.Fatalf("slot %d: %d bytes, capacity %d", i, len(s.Data[i]), s.Capacity)
				}
			}
		}
		if r, err := RingOf(b); err == nil {
			if uint64(len(r.Data)) != r.Capacity {
				t.Fatalf("ring data %d bytes, capacity %d", len(r.Data), r.Capacity)
			}
		}
	})
}

func unsafeBytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w)*8)
}
