package layout

import (
	"sync/atomic"
	"unsafe"
)

// A snapshot segment is the header, a control line, then two slots, each a
// 64-byte slot header followed by Capacity bytes rounded up to CacheLine.
// The writer fills the slot the readers are not told about, then flips
// Gen, so a writer that dies mid-update leaves the previous value whole.
//
//	[Header 128][SnapshotCtl 64][SlotHdr 64][data…][SlotHdr 64][data…]
const (
	snapCtlOff   = HeaderSize
	snapSlotsOff = snapCtlOff + CacheLine
	slotHdrSize  = CacheLine
)

// SnapshotCtl is the snapshot's control line.
type SnapshotCtl struct {
	// Gen is the generation of the newest complete value; its slot is
	// Gen&1. Release: the writer's Gen.Store after the slot's Seq is made
	// even. Acquire: the reader's Gen.Load before it reads that slot.
	Gen atomic.Uint64
	// LockState is the writer lock: SlotState(gen, holder's pid, 1) while
	// held, SlotState(gen, 0, 0) while free (see locks.go for the
	// generation). LockStart and LockOwner identify the holder as in a
	// ring slot. On file-backed segments a writer holds the
	// LockSnapshotWriter OFD lock while it holds this word, so a held word
	// whose OFD lock another writer obtained belongs to a dead holder; on
	// System V a holder proven dead by pid, start time and namespace is
	// taken over. Partners: the holder's CAS and Store, and every other
	// writer's loads.
	LockState atomic.Uint64
	LockStart atomic.Uint64
	// LastPid, LastStart and LastNS identify the writer of the newest
	// value, so `shmbuf ls` can tell whether any process that used the
	// segment is still alive. Written under the writer lock; read without
	// it, they are a hint, never trusted for anything but liveness.
	LastPid   atomic.Uint64
	LastStart atomic.Uint64
	LockOwner atomic.Uint64
	LastNS    atomic.Uint64
	// LastWrite is when the newest value was published, in Unix
	// nanoseconds (0: never, or by a writer that does not record it):
	// the segment's last activity for stale detection, since stores
	// through a mapping do not reliably update the file's modification
	// time. Written under the writer lock; a hint, like LastPid, trusted
	// for nothing else.
	LastWrite atomic.Int64
}

var _ [CacheLine - unsafe.Sizeof(SnapshotCtl{})]byte // one line exactly
var _ [unsafe.Sizeof(SnapshotCtl{}) - CacheLine]byte

// Snapshot lock states, in the low byte of LockState.
const (
	LockFree = 0
	LockHeld = 1
)

// SlotHdr precedes each value slot.
type SlotHdr struct {
	// Seq is 2*gen while the slot holds generation gen whole and odd while
	// a writer rewrites it (seqlock). Partners: the writer's stores around
	// the copy in Publish and the reader's two loads around its copy.
	Seq atomic.Uint64
	Len atomic.Uint64
	_   [CacheLine - 16]byte
}

// SnapshotSize is the segment size a snapshot of capacity bytes needs.
func SnapshotSize(capacity uint64) (uint64, bool) {
	c, ok := AlignUp(capacity)
	if !ok || c > 1<<56 {
		return 0, false
	}
	return snapSlotsOff + 2*(slotHdrSize+c), true
}

// Snapshot is a validated view of a snapshot segment.
type Snapshot struct {
	Ctl      *SnapshotCtl
	Slots    [2]*SlotHdr
	Data     [2][]byte // each exactly Capacity bytes
	Capacity uint64
}

// SnapshotOf overlays the snapshot areas on b after validating the header.
func SnapshotOf(b []byte) (*Snapshot, error) {
	h, err := HeaderOf(b)
	if err != nil {
		return nil, err
	}
	need := func(h *Header) (uint64, bool) { return SnapshotSize(h.Capacity) }
	if err := h.Validate(len(b), KindSnapshot, need); err != nil {
		return nil, err
	}
	c, _ := AlignUp(h.Capacity)
	s := &Snapshot{Capacity: h.Capacity}
	s.Ctl = (*SnapshotCtl)(unsafe.Pointer(&b[snapCtlOff]))
	for i := range 2 {
		off := snapSlotsOff + uint64(i)*(slotHdrSize+c)
		s.Slots[i] = (*SlotHdr)(unsafe.Pointer(&b[off]))
		s.Data[i] = b[off+slotHdrSize : off+slotHdrSize+h.Capacity : off+slotHdrSize+h.Capacity]
	}
	return s, nil
}
