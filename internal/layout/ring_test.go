package layout

import "testing"

// testRing returns a ring of capacity 256 with MaxRecord 100 over a fresh
// buffer.
func testRing(t *testing.T) *Ring {
	t.Helper()
	const capacity = 256
	size, _ := RingSize(capacity, 1, 1)
	b := newSegment(int(size))
	h, err := HeaderOf(b)
	if err != nil {
		t.Fatal(err)
	}
	h.Kind = KindRing
	h.SegmentSize = size
	h.Capacity = capacity
	h.MaxRecord = 100
	h.Readers, h.Writers = 1, 1
	h.CreatorPid, h.CreatorStart, h.CreatedNanos = 1, 1, 1
	h.StampKey = 0x8000_0000_dead_beef
	h.Publish()
	r, err := RingOf(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// put writes a header at pos as a writer would, stamp last.
func put(r *Ring, pos uint64, n uint32, pad bool) {
	h := r.Hdr(pos & r.Mask)
	h.Len = n
	h.Flags = RecordFlags(0, pad)
	h.Stamp.Store(r.Stamp(pos))
}

// TestRecordAt: the one decoder of record headers tells every case
// apart and refuses every length that cannot be right.
func TestRecordAt(t *testing.T) {
	r := testRing(t)
	lap := r.Capacity
	cases := []struct {
		name string
		pos  uint64
		set  func()
		want RecordView
	}{
		{"zero memory", 0, func() {}, RecordView{Found: FoundNothing, Off: 0}},
		{"record", 0, func() { put(r, 0, 5, false) }, RecordView{Found: FoundRecord, Size: 24, Len: 5, Off: 0}},
		{"empty record", 0, func() { put(r, 0, 0, false) }, RecordView{Found: FoundRecord, Size: 16, Off: 0}},
		{"largest record", 0, func() { put(r, 0, 100, false) }, RecordView{Found: FoundRecord, Size: 120, Len: 100, Off: 0}},
		{"too long", 0, func() { put(r, 0, 101, false) }, RecordView{Found: FoundBad, Len: 101, Off: 0}},
		{"past the lap", 200, func() { put(r, 200, 48, false) }, RecordView{Found: FoundBad, Len: 48, Off: 200}},
		{"fits the lap", 200, func() { put(r, 200, 40, false) }, RecordView{Found: FoundRecord, Size: 56, Len: 40, Off: 200}},
		{"pad", 200, func() { put(r, 200, 40, true) }, RecordView{Found: FoundPad, Size: 56, Off: 200}},
		{"pad of the whole rest", 16, func() { put(r, 16, 224, true) }, RecordView{Found: FoundPad, Size: 240, Off: 16}},
		{"unaligned pad", 200, func() { put(r, 200, 41, true) }, RecordView{Found: FoundBad, Len: 41, Off: 200}},
		{"pad past the lap", 200, func() { put(r, 200, 48, true) }, RecordView{Found: FoundBad, Len: 48, Off: 200}},
		{"older lap", lap + 8, func() { put(r, 8, 5, false) }, RecordView{Found: FoundNothing, Off: 8}},
		{"next lap", lap + 8, func() { put(r, lap+8, 5, false) }, RecordView{Found: FoundRecord, Size: 24, Len: 5, Off: 8}},
		{"gap", lap - 8, func() {}, RecordView{Found: FoundGap, Size: 8}},
	}
	for _, c := range cases {
		clear(r.Data)
		c.set()
		if got := r.RecordAt(c.pos); got != c.want {
			t.Errorf("%s: RecordAt(%d) = %+v, want %+v", c.name, c.pos, got, c.want)
		}
	}
}
