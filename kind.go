package shmbuf

import (
	"errors"
	"strconv"

	"github.com/shmbuf/shmbuf/internal/layout"
	"golang.org/x/sys/unix"
)

// Kind says what the bytes of a segment mean.
type Kind int

const (
	// KindUnknown is a segment shmbuf did not create and that has no shmbuf
	// header: it is read and written as raw bytes.
	KindUnknown Kind = iota
	// KindRaw is plain bytes without a header, guarded by flock.
	KindRaw
	// KindSnapshot is a latest-value blackboard guarded by a sequence lock.
	KindSnapshot
	// KindRing is a multi-writer, multi-reader stream of records.
	KindRing
)

func (k Kind) String() string {
	switch k {
	case KindUnknown:
		return ""
	case KindRaw:
		return "raw"
	case KindSnapshot:
		return "snapshot"
	case KindRing:
		return "ring"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind parses "raw", "snapshot" or "ring".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "raw":
		return KindRaw, nil
	case "snapshot":
		return KindSnapshot, nil
	case "ring":
		return KindRing, nil
	}
	return 0, wrapErr("parse kind", strconv.Quote(s), ErrInvalidArgument, errors.New("want raw, snapshot or ring"))
}

// rawKindXattr marks raw segments shmbuf created, so that a raw segment
// some other program made (Python's shared_memory, a C shm_open) is
// recognised as a fixed-size region and never resized under that
// program's mapping. Values: rawResizable, rawFixed.
const (
	rawKindXattr = "user.shmbuf.kind"
	rawResizable = "raw"
	rawFixed     = "raw-fixed"

	// rawDirtyXattr is present while a Store rewrites a raw file; see
	// Raw.Store.
	rawDirtyXattr = "user.shmbuf.dirty"
)

// DetectKind reports the kind of the segment at addr: a formatted kind
// from its header, KindRaw for a raw segment shmbuf created, KindUnknown
// for anything else.
func DetectKind(addr string) (Kind, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return 0, err
	}
	info, err := StatSegment(a)
	if err != nil {
		return 0, err
	}
	k, _ := ParseKind(info.Kind)
	return k, nil
}

// kindOfSegment peeks at a segment's first bytes without mapping it for
// writing. Errors count as "not a shmbuf segment".
func kindOfSegment(a Address, info *SegmentInfo) string {
	var head [layout.HeaderSize]byte
	if a.Backend == SysV {
		s, err := attachSysV(a, info.ID, true)
		if err != nil {
			return ""
		}
		defer s.Close()
		copy(head[:], s.data)
	} else {
		fd, err := unix.Open(a.Path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return ""
		}
		defer unix.Close(fd)
		unix.Pread(fd, head[:], 0)
		if x, _ := rawMark(fd); x != "" {
			return "raw"
		}
	}
	switch layout.KindOf(head[:]) {
	case layout.KindSnapshot:
		return "snapshot"
	case layout.KindRing:
		return "ring"
	}
	return ""
}

// rawMark reads the raw-kind extended attribute of an open file: "" when
// absent or unreadable, with the error of the read (EOPNOTSUPP on a file
// system without user attributes).
func rawMark(fd int) (string, error) {
	var buf [16]byte
	n, err := unix.Fgetxattr(fd, rawKindXattr, buf[:])
	if err != nil {
		return "", err
	}
	if n < 0 || n > len(buf) {
		return "", nil
	}
	return string(buf[:n]), nil
}
