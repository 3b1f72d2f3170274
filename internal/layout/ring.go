package layout

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// A ring segment is the header, a control block, the writer slots, the
// reader slots, then the data area of Capacity bytes (a power of two):
//
//	[Header 128][RingCtl 192][WriterSlot 64]×W[ReaderSlot 64]×R[data…]
//
// The data area holds records at 8-byte aligned positions. A position is a
// byte counter that only grows; its offset in the data area is
// pos & (Capacity-1). Each record starts with a RecordHdr.
const (
	ringCtlOff  = HeaderSize
	ringCtlSize = 3 * CacheLine
	slotSize    = CacheLine

	// RecordHdrSize is the size of a record header; RecordAlign the
	// alignment of every record.
	RecordHdrSize = 16
	RecordAlign   = 8

	// Limits on what a header may ask for.
	MinCapacity = 256
	MaxCapacity = 1 << 40
	MaxSlots    = 4096
)

// Record flags, in the low 16 bits of RecordHdr.Flags. The high 16 bits
// hold the writer slot whose claim the record (or pad) fills: see
// RecordFlags and RecordWriter.
const (
	// FlagPad marks a record that readers skip: the tail of a lap too short
	// for the next record, or the claim of a writer that died before
	// publishing.
	FlagPad = 1

	recordWriterShift = 16
)

// RecordFlags is the Flags word of a record (or, with pad, a padding
// record) filling a claim of writer slot slot.
func RecordFlags(slot uint64, pad bool) uint32 {
	f := uint32(slot) << recordWriterShift
	if pad {
		f |= FlagPad
	}
	return f
}

// RecordWriter is the writer slot recorded in a record's Flags: the
// writer that wrote it, or whose claim a pad fills. It is as trustworthy
// as the rest of the header: a hostile peer may write any slot number.
func RecordWriter(flags uint32) int { return int(flags >> recordWriterShift) }

// End causes, stored in the low bits of RingCtl.End (positions are 8-byte
// aligned, so those bits are free). The cause of the latest store counts:
// the last writer to leave decides how the stream ended.
const (
	EndEOF     = 1 // a writer closed
	EndLost    = 2 // a writer died without closing
	EndAborted = 3 // a writer closed with an error
	EndMask    = 7
)

// RingCtl is the ring's control block: one line that writers claim on, one
// for the oldest position, one for stream state and waiting.
type RingCtl struct {
	// Tail is the end of the last claimed record: writers claim [Tail,
	// Tail+n) by CAS. Partner: every other writer's CAS, and the loads of
	// Tail by readers deciding the ring is drained.
	Tail atomic.Uint64
	// WalkToken is 1+the writer slot that is advancing Head (0: nobody).
	// Only its holder moves Head, which makes Head and its triple
	// (policy overwrite) consistent without a lock held across any wait.
	WalkToken atomic.Uint64
	_         [CacheLine - 16]byte

	// Head is the oldest position still in the ring, on a record
	// boundary: the records from Head to Tail are intact, and a reader
	// that starts from the oldest record starts here. Only writers move
	// it, under the walk token, over whole published records and only
	// when they need the space behind it (they claim only below Head
	// plus the capacity). Policy block: never past the gate (ReadMark
	// and every live reader's cursor). Policy overwrite: as far as the
	// claim needs, whoever has not read the records. Release: the
	// walker's Store (after HeadGen). Acquire:
	// readers attaching and their post-read checks, writers' limits.
	Head atomic.Uint64
	// HeadGen selects HeadCopy[HeadGen&1], the current (pos, records,
	// bytes) of Head: the records and payload bytes written before it,
	// from which lapped readers and observers count what they missed.
	// The walker fills the other copy
	// then stores HeadGen+1 (release); readers load HeadGen, the copy, and
	// HeadGen again (acquire) like a sequence lock.
	HeadGen  atomic.Uint64
	HeadCopy [2]HeadTriple

	// ReadMark (policy block; 0 under overwrite) is how far records have
	// been read: every record from Head to ReadMark was returned to some
	// reader. A reader that started at or below ReadMark raises it to its
	// cursor (CAS, never down) when it publishes the cursor and when it
	// closes; Head never passes it, so a record nobody has read is never
	// overwritten. Head <= ReadMark <= Tail (or the start of the lap
	// after a Tail in the end-of-lap gap). Release: the readers' CAS.
	// Acquire: writers computing the gate.
	ReadMark atomic.Uint64
	// End is pos|cause of the latest end of stream, 0 before any. Every
	// writer that closes, and every reaper of a dead active writer, stores
	// Tail|cause here with a CAS that loads End then Tail, before it frees
	// its slot, so End's position never moves back. It ends the stream
	// only once no writer slot is taken: a reader at position p that
	// finds no record there ends when End's position, every writer slot
	// free, and Tail, loaded in this order, all say p (a position fewer
	// than RecordHdrSize bytes before the end of a lap counts as the start
	// of the next lap, which readers skip to). Release: that CAS. Acquire:
	// readers that found nothing to read.
	End atomic.Uint64
	// DataWake is the futex word readers sleep on; writers bump it and wake
	// when ReaderWaiters is non-zero after publishing. SpaceWake and
	// WriterWaiters are the same for writers waiting for space.
	DataWake      atomic.Uint32
	ReaderWaiters atomic.Uint32
	SpaceWake     atomic.Uint32
	WriterWaiters atomic.Uint32
	// Overruns counts readers lapped in overwrite policy.
	Overruns atomic.Uint64
	// ClosedRecords and ClosedBytes accumulate the counters of writers
	// whose slots were freed.
	ClosedRecords atomic.Uint64
	ClosedBytes   atomic.Uint64
	// LastWrite is when a writer last recorded its activity, in Unix
	// nanoseconds (0: never): at its first record, every 256 records
	// after, and when it closes. It is the ring's last activity for stale
	// detection, since stores through a mapping do not reliably update
	// the file's modification time. A hint, trusted for nothing else.
	LastWrite atomic.Int64
}

// HeadTriple is Head with the number of records and payload bytes that
// were written before it.
type HeadTriple struct {
	Pos, Records, Bytes atomic.Uint64
}

var _ [ringCtlSize - unsafe.Sizeof(RingCtl{})]byte
var _ [unsafe.Sizeof(RingCtl{}) - ringCtlSize]byte

// Slot states, in the low byte of a slot's State word (see SlotState for
// the rest of the word: pid and generation).
const (
	SlotFree      = 0
	SlotAttaching = 1
	SlotActive    = 2
	// SlotReaping is held by a System V reaper while it reclaims a dead
	// owner's slot; file-backed slots are reaped under their lock and never
	// take this state.
	SlotReaping = 3
)

// SlotStateValid reports whether s can be a slot's State word: a free
// slot names no pid; a taken one names the positive pid of its owner and
// a known state. Anything else was not written by shmbuf.
func SlotStateValid(s uint64) bool {
	st, pid := SlotStateOf(s), SlotPid(s)
	if st == SlotFree {
		return pid == 0
	}
	return st <= SlotReaping && pid > 0
}

// WriterSlot registers a writer: its identity for liveness, its pending
// claim so that a claim left by a dead writer can be skipped, and its
// counters.
type WriterSlot struct {
	// State is SlotState(gen, pid, state). Taken by the attaching owner's
	// CAS from free (after it took WriterLock on file-backed segments);
	// freed by the owner's or the reaper's Store.
	State atomic.Uint64
	// Start is the owner's process start time.
	Start atomic.Uint64
	// Claim is 1+the position of the writer's latest claim and ClaimLen
	// its length. The owner stores them before the CAS on Tail that makes
	// the claim; reapers load them, for the dead writer they reap and for
	// the live ones they compare it with. Partners: those loads.
	Claim    atomic.Uint64
	ClaimLen atomic.Uint64
	Records  atomic.Uint64
	Bytes    atomic.Uint64
	// Owner is OwnerWord(owner's pid namespace, State's generation),
	// stored after Start (release; partner: a checker's load before
	// Start).
	Owner atomic.Uint64
	_     [CacheLine - 56]byte
}

// ReaderSlot registers a reader and its cursor, published in batches.
// Release: the reader's Cursor.Store. Acquire: writers computing how much
// space they may reuse. State, Start and Owner are as in WriterSlot.
type ReaderSlot struct {
	State  atomic.Uint64
	Start  atomic.Uint64
	Cursor atomic.Uint64
	Owner  atomic.Uint64
	_      [CacheLine - 32]byte
}

var _ [slotSize - unsafe.Sizeof(WriterSlot{})]byte
var _ [unsafe.Sizeof(WriterSlot{}) - slotSize]byte
var _ [slotSize - unsafe.Sizeof(ReaderSlot{})]byte
var _ [unsafe.Sizeof(ReaderSlot{}) - slotSize]byte

// RecordHdr starts every record. Stamp is Ring.Stamp of the record's
// position, stored last with release ordering (partner: the reader's
// Stamp.Load), so a header from an older lap, a payload from an older lap
// or zero memory never matches. Len is the payload length (pads: the bytes
// after the header); Flags is RecordFlags(writer slot, pad).
type RecordHdr struct {
	Stamp atomic.Uint64
	Len   uint32
	Flags uint32
}

// RingSize is the segment size of a ring, reporting false when the
// parameters are out of range.
func RingSize(capacity uint64, writers, readers uint32) (uint64, bool) {
	if capacity < MinCapacity || capacity > MaxCapacity || bits.OnesCount64(capacity) != 1 {
		return 0, false
	}
	if writers < 1 || writers > MaxSlots || readers < 1 || readers > MaxSlots {
		return 0, false
	}
	return ringCtlOff + ringCtlSize + uint64(writers+readers)*slotSize + capacity, true
}

// RecordSize is the ring space a record of n payload bytes takes.
func RecordSize(n uint64) uint64 {
	return (RecordHdrSize + n + RecordAlign - 1) &^ (RecordAlign - 1)
}

// ErrRingParams is returned when a ring header's parameters do not make a
// ring (capacity not a power of two, max record too large, no slots).
var ErrRingParams = errors.New("ring parameters out of range")

// Ring is a validated view of a ring segment.
type Ring struct {
	Ctl       *RingCtl
	Writers   []WriterSlot
	Readers   []ReaderSlot
	Data      []byte // exactly Capacity bytes
	Capacity  uint64
	Mask      uint64
	MaxRecord uint64
	Policy    uint32
	// Key is the header's StampKey (see Stamp).
	Key uint64
}

// Stamp is the stamp of a record published at pos: 1+pos XORed with the
// ring's random key, then mixed (the splitmix64 finalizer, a bijection).
// The bytes an older lap left where a later record's header goes (any
// payload, a counter, an offset, a header's tail) could otherwise hold
// what a reader waiting there expects by chance: 1+pos plainly, or, with
// the key alone, all but the low bytes of the stamp a header two laps
// before left there, since stamps of positions a few laps apart then
// differ only in the bits of the lap count. Mixed, any two stamps differ
// in every byte with the odds of random ones, so eight stale bytes match
// with odds of 2^-64 and a partly rewritten old header with those of its
// new bytes. The key's top bit is set and positions stay below 2^63, so
// the input is never zero and zero memory never matches.
func (r *Ring) Stamp(pos uint64) uint64 {
	x := (pos + 1) ^ r.Key
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// RingParamsOK checks the ring fields of a header.
func RingParamsOK(h *Header) bool {
	if _, ok := RingSize(h.Capacity, h.Writers, h.Readers); !ok {
		return false
	}
	return h.MaxRecord >= 1 && h.MaxRecord <= h.Capacity && RecordSize(h.MaxRecord) <= h.Capacity/2 && h.Policy <= 1 &&
		h.StampKey>>63 == 1
}

// RingOf overlays the ring areas on b after validating the header.
func RingOf(b []byte) (*Ring, error) {
	h, err := HeaderOf(b)
	if err != nil {
		return nil, err
	}
	need := func(h *Header) (uint64, bool) {
		if !RingParamsOK(h) {
			return 0, false
		}
		return RingSize(h.Capacity, h.Writers, h.Readers)
	}
	if err := h.Validate(len(b), KindRing, need); err != nil {
		return nil, err
	}
	r := &Ring{Capacity: h.Capacity, Mask: h.Capacity - 1, MaxRecord: h.MaxRecord, Policy: h.Policy, Key: h.StampKey}
	r.Ctl = (*RingCtl)(unsafe.Pointer(&b[ringCtlOff]))
	off := uint64(ringCtlOff + ringCtlSize)
	r.Writers = unsafe.Slice((*WriterSlot)(unsafe.Pointer(&b[off])), h.Writers)
	off += uint64(h.Writers) * slotSize
	r.Readers = unsafe.Slice((*ReaderSlot)(unsafe.Pointer(&b[off])), h.Readers)
	off += uint64(h.Readers) * slotSize
	r.Data = b[off : off+h.Capacity : off+h.Capacity]
	return r, nil
}

// ErrHdrBounds is the panic value of Hdr for an offset outside the data
// area or not 8-aligned: only positions read from a corrupt segment lead
// there, and the ring's guard turns it into ErrCorrupt.
var ErrHdrBounds = errors.New("record header offset out of range")

// Hdr returns the record header at offset off of the data area. off must
// be 8-aligned and at most Capacity-RecordHdrSize; callers derive it from
// a position masked by Mask, and the check below keeps a bad caller from
// reaching outside the mapping.
func (r *Ring) Hdr(off uint64) *RecordHdr {
	if off > r.Capacity-RecordHdrSize || off%RecordAlign != 0 {
		panic(ErrHdrBounds)
	}
	return (*RecordHdr)(unsafe.Pointer(&r.Data[off]))
}

// Found says what RecordAt found at a position.
type Found uint8

const (
	// FoundNothing: no record is published at the position (yet): a
	// claim not yet published, space not yet claimed, or what an older
	// lap left there.
	FoundNothing Found = iota
	// FoundRecord: a published record of Len payload bytes.
	FoundRecord
	// FoundPad: a published padding record, which readers skip.
	FoundPad
	// FoundGap: fewer than RecordHdrSize bytes are left in the lap; no
	// header fits, and the next record starts at the next lap. Size is
	// the rest of the lap.
	FoundGap
	// FoundBad: a published header whose length cannot be right (a pad
	// that is not a whole number of records, or one that runs past the
	// end of the lap, or a record longer than MaxRecord). Len is the
	// length it holds. Under PolicyOverwrite a writer may have rewritten
	// the header while it was read; the caller tells that from
	// corruption by Head.
	FoundBad
)

// RecordView is a record header decoded and checked by RecordAt.
type RecordView struct {
	Found Found
	// Size is the space from the position to the next record: header,
	// payload and alignment (FoundRecord, FoundPad), or the rest of the
	// lap (FoundGap).
	Size uint64
	// Len is the payload length (FoundRecord; FoundBad: the bad length).
	Len uint64
	// Off is the offset of the header in the data area (all but
	// FoundGap): the payload starts RecordHdrSize bytes after it.
	Off uint64
}

// RecordAt decodes and checks the record header at position pos, the one
// place that reads record headers: readers, the walker that advances
// Head and the reaper that unblocks a dead writer's claim all see the
// same records. The stamp is loaded first and the length after it.
// Partner: the writer's stamp store, after Len and Flags.
func (r *Ring) RecordAt(pos uint64) RecordView {
	off := pos & r.Mask
	rem := r.Capacity - off
	if rem < RecordHdrSize {
		return RecordView{Found: FoundGap, Size: rem}
	}
	h := r.Hdr(off)
	if h.Stamp.Load() != r.Stamp(pos) {
		return RecordView{Found: FoundNothing, Off: off}
	}
	n := uint64(h.Len)
	if h.Flags&FlagPad != 0 {
		if n%RecordAlign != 0 || RecordHdrSize+n > rem {
			return RecordView{Found: FoundBad, Len: n, Off: off}
		}
		return RecordView{Found: FoundPad, Size: RecordHdrSize + n, Off: off}
	}
	if n > r.MaxRecord || RecordSize(n) > rem {
		return RecordView{Found: FoundBad, Len: n, Off: off}
	}
	return RecordView{Found: FoundRecord, Size: RecordSize(n), Len: n, Off: off}
}

// PutRecordHdr stores the header of a record of n payload bytes at pos,
// flags included, with plain stores, the stamp too: for the records of a
// batch after its first, which the first record's stamp store (release)
// publishes with it. No decoder reaches them before it has loaded that
// stamp (a batch is one claim, so a reader's or walker's way into it
// passes its first record), and a lapped decoder that reads one while it
// is stored checks Head after, as it does for any header it reads under
// PolicyOverwrite; so the plain stores cost nothing in safety and spare a
// serializing store per record.
func (r *Ring) PutRecordHdr(pos uint64, n, flags uint32) {
	h := r.Hdr(pos & r.Mask)
	h.Len = n
	h.Flags = flags
	*(*uint64)(unsafe.Pointer(&h.Stamp)) = r.Stamp(pos)
}

// Run counts the records of n payload bytes each (not pads) published
// one after the other from pos, stopping at the first position that
// holds anything else and before a record that would end past end or
// past the lap: what RecordAt would find at each, for a caller that
// expects a run of records of one length (a batch of equal records, a
// stream of them) and wants to know how many it may take. Every next
// position is known before its header is loaded, so the headers of a
// run are checked without waiting for each in turn. Each header is
// checked as RecordAt checks it: stamp first, then Len and Flags.
func (r *Ring) Run(pos uint64, n uint32, end uint64) (count uint64) {
	if uint64(n) > r.MaxRecord {
		return 0
	}
	size := RecordSize(uint64(n))
	end = min(end, pos-pos&r.Mask+r.Capacity)
	for ; pos+size <= end && pos+size > pos; pos += size {
		h := r.Hdr(pos & r.Mask)
		if h.Stamp.Load() != r.Stamp(pos) || h.Len != n || h.Flags&FlagPad != 0 {
			break
		}
		count++
	}
	return count
}
