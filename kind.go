package shmbuf

import (
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
		return "unknown"
	case KindRaw:
		return "raw"
	case KindSnapshot:
		return "snapshot"
	case KindRing:
		return "ring"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText renders the kind by name, as SegmentInfo's JSON shows it.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

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

// kindOfSegment peeks at a segment's first bytes without mapping it for
// writing. Errors count as "not a shmbuf segment".
func kindOfSegment(a Address, info *SegmentInfo) Kind {
	var head [layout.HeaderSize]byte
	if a.Backend() == SysV {
		s, err := attachSysV(a, info.ID, true)
		if err != nil {
			return KindUnknown
		}
		defer s.Close()
		copy(head[:], s.data)
	} else {
		fd, err := unix.Open(a.Path(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return KindUnknown
		}
		defer unix.Close(fd)
		unix.Pread(fd, head[:], 0)
		if x, _ := rawMark(fd); x != "" {
			return KindRaw
		}
	}
	return formattedKind(layout.KindOf(head[:]))
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
