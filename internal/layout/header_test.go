package layout

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// newSegment returns a zeroed, 8-byte-aligned buffer of n bytes standing in
// for a mapping.
func newSegment(n int) []byte {
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), n)
}

// published returns a mapping of size bytes holding a valid snapshot
// header of the given capacity.
func published(t *testing.T, size int, capacity uint64) ([]byte, *Header) {
	t.Helper()
	b := newSegment(size)
	h, err := HeaderOf(b)
	if err != nil {
		t.Fatal(err)
	}
	h.Kind = KindSnapshot
	h.SegmentSize = uint64(size)
	h.Capacity = capacity
	h.CreatorPid = 1234
	h.CreatorStart = 5678
	h.CreatedNanos = 1
	h.Publish()
	return b, h
}

func snapshotNeed(h *Header) (uint64, bool) { return SnapshotSize(h.Capacity) }

func TestHeader_Layout(t *testing.T) {
	var h Header
	for _, f := range []struct {
		name string
		off  uintptr
		want uintptr
	}{
		{"Version", unsafe.Offsetof(h.Version), 8},
		{"Kind", unsafe.Offsetof(h.Kind), 12},
		{"HeaderSize", unsafe.Offsetof(h.HeaderSize), 16},
		{"SegmentSize", unsafe.Offsetof(h.SegmentSize), 24},
		{"Capacity", unsafe.Offsetof(h.Capacity), 32},
		{"CreatorPid", unsafe.Offsetof(h.CreatorPid), 56},
		{"CreatorStart", unsafe.Offsetof(h.CreatorStart), 64},
		{"CreatedNanos", unsafe.Offsetof(h.CreatedNanos), 72},
		{"CreatorNS", unsafe.Offsetof(h.CreatorNS), 80},
		{"StampKey", unsafe.Offsetof(h.StampKey), 88},
		{"Checksum", unsafe.Offsetof(h.Checksum), 120},
	} {
		if f.off != f.want {
			t.Errorf("%s at offset %d, want %d (the on-disk format changed)", f.name, f.off, f.want)
		}
	}
	if unsafe.Sizeof(SnapshotCtl{}) != CacheLine || unsafe.Sizeof(SlotHdr{}) != CacheLine {
		t.Errorf("control line %d, slot header %d bytes; want %d", unsafe.Sizeof(SnapshotCtl{}), unsafe.Sizeof(SlotHdr{}), CacheLine)
	}
}

func TestHeader_PublishValidate(t *testing.T) {
	size, _ := SnapshotSize(100)
	b, h := published(t, int(size), 100)
	if string(b[:8]) != string(Magic[:]) {
		t.Fatalf("magic not stored: %q", b[:8])
	}
	if h.Version != Version || h.HeaderSize != HeaderSize {
		t.Fatalf("Publish did not set version and header size: %+v", h)
	}
	if err := h.Validate(len(b), KindSnapshot, snapshotNeed); err != nil {
		t.Fatalf("Validate of a fresh header: %v", err)
	}
	if err := h.Validate(len(b), 0, nil); err != nil {
		t.Fatalf("Validate with any kind: %v", err)
	}
	if k := KindOf(b); k != KindSnapshot {
		t.Fatalf("KindOf = %d", k)
	}
	// A larger mapping (page rounding) is fine.
	if err := h.Validate(len(b)+4096, KindSnapshot, snapshotNeed); err != nil {
		t.Fatalf("Validate with a larger mapping: %v", err)
	}
}

// TestHeader_ValidateErrors damages one thing at a time; each failure has
// its own error, and version and kind are reported before the checksum,
// which a different version may compute differently.
func TestHeader_ValidateErrors(t *testing.T) {
	size, _ := SnapshotSize(100)
	put32 := func(off int, v uint32) func([]byte, *Header) {
		return func(b []byte, _ *Header) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	cases := []struct {
		name    string
		damage  func([]byte, *Header)
		mapLen  int
		kind    uint32
		need    func(*Header) (uint64, bool)
		want    error
		rechsum bool
	}{
		{name: "magic", damage: func(b []byte, _ *Header) { b[3] = 'X' }, want: ErrMagic},
		{name: "no magic yet", damage: func(b []byte, _ *Header) { clear(b[:8]) }, want: ErrMagic},
		{name: "version", damage: put32(8, Version+1), want: ErrVersion},
		{name: "version resummed", damage: put32(8, 0), want: ErrVersion, rechsum: true},
		{name: "version and kind", damage: func(b []byte, h *Header) { put32(8, 9)(b, h); put32(12, 9)(b, h) }, want: ErrVersion},
		{name: "kind", damage: put32(12, KindRing), want: ErrKind},
		{name: "kind wanted ring", kind: KindRing, want: ErrKind},
		{name: "kind and checksum", damage: func(b []byte, h *Header) { put32(12, 9)(b, h); b[100] ^= 1 }, want: ErrKind},
		{name: "checksum field", damage: func(b []byte, _ *Header) { b[121] ^= 1 }, want: ErrChecksum},
		{name: "capacity bit", damage: func(b []byte, _ *Header) { b[33] ^= 1 }, want: ErrChecksum},
		{name: "reserved bit", damage: func(b []byte, _ *Header) { b[90] ^= 0x80 }, want: ErrChecksum},
		{name: "creator", damage: func(b []byte, _ *Header) { b[64] ^= 1 }, want: ErrChecksum},
		{name: "mapping smaller than segment", mapLen: int(size) - 1, want: ErrBounds},
		{name: "segment size below header", damage: func(_ []byte, h *Header) { h.SegmentSize = HeaderSize - 1 }, rechsum: true, want: ErrBounds},
		{name: "header size", damage: func(_ []byte, h *Header) { h.HeaderSize = 64 }, rechsum: true, want: ErrBounds},
		{name: "capacity beyond segment", damage: func(_ []byte, h *Header) { h.Capacity = 1 << 20 }, rechsum: true, want: ErrBounds},
		{name: "capacity overflows", damage: func(_ []byte, h *Header) { h.Capacity = ^uint64(0) - 10 }, rechsum: true, want: ErrBounds},
		{name: "need refuses", need: func(*Header) (uint64, bool) { return 0, false }, want: ErrBounds},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			b, h := published(t, int(size), 100)
			if tt.damage != nil {
				tt.damage(b, h)
			}
			if tt.rechsum {
				h.Checksum = h.sum(Magic)
			}
			mapLen, kind, need := len(b), uint32(KindSnapshot), tt.need
			if tt.mapLen != 0 {
				mapLen = tt.mapLen
			}
			if tt.kind != 0 {
				kind = tt.kind
			}
			if need == nil {
				need = snapshotNeed
			}
			err := h.Validate(mapLen, kind, need)
			if err != tt.want {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
	// Every failure has its own error.
	all := []error{ErrShort, ErrMagic, ErrVersion, ErrKind, ErrChecksum, ErrBounds}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if errors.Is(a, b) || a.Error() == b.Error() {
				t.Errorf("%v and %v are not distinct", a, b)
			}
		}
	}
}

func TestHeader_Short(t *testing.T) {
	for _, n := range []int{0, 1, 8, HeaderSize - 1} {
		if _, err := HeaderOf(newSegment(n)); err != ErrShort {
			t.Errorf("HeaderOf(%d bytes) = %v, want ErrShort", n, err)
		}
		if _, err := SnapshotOf(newSegment(n)); err != ErrShort {
			t.Errorf("SnapshotOf(%d bytes) = %v, want ErrShort", n, err)
		}
		if k := KindOf(newSegment(n)); k != 0 {
			t.Errorf("KindOf(%d bytes) = %d", n, k)
		}
	}
	if _, err := HeaderOf(newSegment(HeaderSize)); err != nil {
		t.Errorf("HeaderOf(HeaderSize bytes) = %v", err)
	}
}

func TestKindOf(t *testing.T) {
	b := newSegment(HeaderSize)
	if KindOf(b) != 0 {
		t.Fatal("KindOf of zeros")
	}
	copy(b, "SHMBUF\x00\x00")
	binary.LittleEndian.PutUint32(b[12:], KindRing)
	if KindOf(b) != KindRing {
		t.Fatal("KindOf ignores the kind field")
	}
	b[0] = 's'
	if KindOf(b) != 0 {
		t.Fatal("KindOf without magic")
	}
}

func TestSnapshotOf(t *testing.T) {
	const capacity = 100
	size, ok := SnapshotSize(capacity)
	if !ok || size != HeaderSize+CacheLine+2*(CacheLine+128) {
		t.Fatalf("SnapshotSize(100) = %d, %v", size, ok)
	}
	b, _ := published(t, int(size), capacity)
	s, err := SnapshotOf(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Capacity != capacity {
		t.Fatalf("Capacity %d", s.Capacity)
	}
	base := uintptr(unsafe.Pointer(&b[0]))
	end := base + uintptr(len(b))
	for i := range 2 {
		if len(s.Data[i]) != capacity || cap(s.Data[i]) != capacity {
			t.Fatalf("slot %d: len %d cap %d", i, len(s.Data[i]), cap(s.Data[i]))
		}
		d := uintptr(unsafe.Pointer(&s.Data[i][0]))
		if d < base || d+capacity > end {
			t.Fatalf("slot %d data outside the mapping", i)
		}
		if p := uintptr(unsafe.Pointer(s.Slots[i])); p%CacheLine != 0 || p+CacheLine > d {
			t.Fatalf("slot %d header misplaced", i)
		}
	}
	if uintptr(unsafe.Pointer(s.Ctl)) != base+HeaderSize {
		t.Fatal("control line misplaced")
	}
	// The two slots never overlap.
	if uintptr(unsafe.Pointer(&s.Data[0][capacity-1])) >= uintptr(unsafe.Pointer(s.Slots[1])) {
		t.Fatal("slots overlap")
	}
	if _, err := SnapshotOf(b[:size-1]); err != ErrBounds {
		t.Fatalf("SnapshotOf of a cut mapping = %v, want ErrBounds", err)
	}
}

func TestSizes(t *testing.T) {
	if r, ok := AlignUp(0); !ok || r != 0 {
		t.Errorf("AlignUp(0) = %d, %v", r, ok)
	}
	if r, ok := AlignUp(65); !ok || r != 128 {
		t.Errorf("AlignUp(65) = %d, %v", r, ok)
	}
	if _, ok := AlignUp(^uint64(0) - 3); ok {
		t.Error("AlignUp overflow not reported")
	}
	if _, ok := SnapshotSize(1 << 60); ok {
		t.Error("SnapshotSize(1<<60) accepted")
	}
	if _, ok := SnapshotSize(^uint64(0)); ok {
		t.Error("SnapshotSize(max) accepted")
	}
}

func TestSlotWords(t *testing.T) {
	s := SlotState(genMask, -2, SlotActive)
	if SlotGen(s) != genMask || SlotPid(s) != -2 || SlotStateOf(s) != SlotActive {
		t.Fatalf("SlotState round trip: gen %d pid %d state %d", SlotGen(s), SlotPid(s), SlotStateOf(s))
	}
	if NextGen(s) != 0 {
		t.Fatalf("NextGen wraps to %d, want 0", NextGen(s))
	}
	if g := NextGen(SlotState(7, 1, SlotFree)); g != 8 {
		t.Fatalf("NextGen = %d, want 8", g)
	}
	o := OwnerWord(0xF0000123, 9)
	if OwnerNS(o) != 0xF0000123 || OwnerGen(o) != 9 {
		t.Fatalf("OwnerWord round trip: %x %d", OwnerNS(o), OwnerGen(o))
	}
	for _, slot := range []uint64{0, 1, MaxSlots - 1} {
		for _, pad := range []bool{false, true} {
			f := RecordFlags(slot, pad)
			if RecordWriter(f) != int(slot) || (f&FlagPad != 0) != pad {
				t.Fatalf("RecordFlags(%d, %v) = %#x", slot, pad, f)
			}
		}
	}
	if WriterLock(MaxSlots-1) >= ReaderLock(0) || ReaderLock(0) <= LockSnapshotWriter || LockUsers < 1<<56 {
		t.Fatal("lock offsets overlap or sit inside a segment")
	}
}
