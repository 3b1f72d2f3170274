// Package layout holds the byte layout of formatted shmbuf segments and is
// the only package that overlays Go types on shared memory. Everything it
// reads from a mapping is untrusted: Validate checks the header before any
// other field is used, and every accessor bounds-checks the offsets it
// derives against the mapping's length.
package layout

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"sync/atomic"
	"unsafe"
)

// Magic opens every formatted segment: "SHMBUF" then two zero bytes.
var Magic = [8]byte{'S', 'H', 'M', 'B', 'U', 'F', 0, 0}

// Version is the format version this code writes and reads. Version 2
// added the pid namespace of every recorded process, the slot generation,
// the liveness locks of file-backed segments (see locks.go) and the writer
// slot in record headers; version 1 segments are refused.
// Record stamps are keyed (Header.StampKey, Ring.Stamp), so that no
// older lap's bytes pass for a header. Version 3 made rings keep their
// records until a writer needs the space: the word after HeadCopy became
// RingCtl.ReadMark, and only writers move Head. A version 2 process would
// move Head when its readers close and leave ReadMark behind, so version
// 2 segments are refused too.
const Version = 3

// HeaderSize is the size of the common header; kind-specific areas follow
// it, each aligned to CacheLine.
const HeaderSize = 128

// CacheLine is the alignment of every area that processes write, so that
// two writers' fields never share a line.
const CacheLine = 64

// Kinds recorded in Header.Kind. Raw segments have no header, so no kind
// value.
const (
	KindSnapshot = 1
	KindRing     = 2
)

// Header is the first HeaderSize bytes of a formatted segment. Its fields
// are written once by the creator and never change; Checksum covers all of
// them, so a flipped bit anywhere is caught by Validate.
type Header struct {
	Magic        [8]byte // 0: Magic, stored last by the creator (see Publish)
	Version      uint32  // 8
	Kind         uint32  // 12
	HeaderSize   uint32  // 16: HeaderSize when written
	Flags        uint32  // 20: reserved, zero
	SegmentSize  uint64  // 24: bytes the creator sized the segment to
	Capacity     uint64  // 32: snapshot: largest value; ring: data bytes
	MaxRecord    uint64  // 40: ring: largest record payload
	Readers      uint32  // 48: ring: reader slots
	Policy       uint32  // 52: ring: 0 block, 1 overwrite
	CreatorPid   int32   // 56
	Writers      uint32  // 60: ring: writer slots
	CreatorStart uint64  // 64: creator's start time, clock ticks since boot
	CreatedNanos int64   // 72: creation time, Unix nanoseconds
	CreatorNS    uint32  // 80: creator's pid namespace, inode of /proc/self/ns/pid
	_            [4]byte
	StampKey     uint64 // 88: ring: the random key of record stamps (Ring.Stamp); top bit set
	_            [24]byte
	Checksum     uint64 // 120: FNV-1a 64 of bytes [0,120) with Magic as written
}

var _ [HeaderSize - unsafe.Sizeof(Header{})]byte // Header must fit exactly
var _ [unsafe.Sizeof(Header{}) - HeaderSize]byte

// Errors returned by Validate, one per way a header can fail. The shmbuf
// package maps each to its public sentinel.
var (
	ErrShort    = errors.New("segment smaller than a header")
	ErrMagic    = errors.New("bad magic")
	ErrVersion  = errors.New("version mismatch")
	ErrKind     = errors.New("wrong kind")
	ErrChecksum = errors.New("header checksum mismatch")
	ErrBounds   = errors.New("header sizes out of bounds")
)

// HeaderOf overlays a Header on the start of b. b must come from mmap or
// shmat (page aligned) and hold at least HeaderSize bytes.
func HeaderOf(b []byte) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, ErrShort
	}
	return (*Header)(unsafe.Pointer(unsafe.SliceData(b))), nil
}

// sum computes the checksum of the header's first 120 bytes as they sit in
// memory, with the magic as given (the creator computes it before the magic
// is stored).
func (h *Header) sum(magic [8]byte) uint64 {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(h)), HeaderSize)
	f := fnv.New64a()
	f.Write(magic[:])
	f.Write(raw[8:120])
	return f.Sum64()
}

// Publish finishes a header the creator filled in: it sets the checksum and
// then stores the magic, last and atomically, so that a process opening the
// segment meanwhile sees either no magic (not yet a shmbuf segment) or a
// complete header. Partner: the atomic magic load in Validate.
func (h *Header) Publish() {
	h.Version = Version
	h.HeaderSize = HeaderSize
	h.Checksum = h.sum(Magic)
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&h.Magic)), binary.LittleEndian.Uint64(Magic[:]))
}

// Validate checks, in order, the magic, version, kind, checksum and that
// the recorded sizes fit inside a mapping of mapLen bytes. need computes
// the bytes the kind's areas require from the header (nil: none beyond the
// header). A kind of 0 accepts any kind.
func (h *Header) Validate(mapLen int, kind uint32, need func(*Header) (uint64, bool)) error {
	// Partner: the atomic magic store in Publish.
	m := atomic.LoadUint64((*uint64)(unsafe.Pointer(&h.Magic)))
	if m != binary.LittleEndian.Uint64(Magic[:]) {
		return ErrMagic
	}
	if h.Version != Version {
		return ErrVersion
	}
	if kind != 0 && h.Kind != kind {
		return ErrKind
	}
	if h.Checksum != h.sum(Magic) {
		return ErrChecksum
	}
	if h.HeaderSize != HeaderSize || h.SegmentSize > uint64(mapLen) || h.SegmentSize < HeaderSize {
		return ErrBounds
	}
	if need != nil {
		n, ok := need(h)
		if !ok || n > h.SegmentSize {
			return ErrBounds
		}
	}
	return nil
}

// AlignUp rounds n up to a multiple of CacheLine, reporting false on
// overflow.
func AlignUp(n uint64) (uint64, bool) {
	r := (n + CacheLine - 1) &^ (CacheLine - 1)
	return r, r >= n
}

// KindOf reads the kind of a segment whose magic is valid, or 0 when b is
// not a shmbuf segment. It does not validate the rest of the header.
func KindOf(b []byte) uint32 {
	h, err := HeaderOf(b)
	if err != nil {
		return 0
	}
	if atomic.LoadUint64((*uint64)(unsafe.Pointer(&h.Magic))) != binary.LittleEndian.Uint64(Magic[:]) {
		return 0
	}
	return h.Kind
}
