package shmbuf

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// segment is a shared-memory region mapped into this process: a file in
// /dev/shm, a regular file, or a System V segment. It owns exactly the
// slice mmap or shmat returned and releases exactly that slice in Close.
// It is the layer below the kinds (raw, snapshot, ring). Its methods are
// not safe for concurrent use with Close.
type segment struct {
	addr     Address
	f        *os.File // posix and file backends
	shmid    int      // sysv backend
	data     []byte   // exactly what mmap or shmat returned; nil if empty
	readOnly bool
	// building is set from newSegment until publish: the segment exists
	// and is mapped, but no other process can open it yet.
	building *building
}

// building is what publish needs to make a new segment visible.
type building struct {
	tmp   *unnamedFile // posix and file: the file, not yet at its path
	mode  os.FileMode  // sysv: the mode that replaces sysvBuildingMode
	force bool         // replace an existing segment
}

// CreateOptions controls CreateRaw and CreateSnapshot (CreateRing takes
// RingOptions, which hold the same fields).
type CreateOptions struct {
	// Size is the segment's size in bytes; it must be positive.
	Size int64
	// Mode is the permission bits; zero means 0600. The process umask does
	// not apply: the segment gets exactly this mode.
	Mode os.FileMode
	// Force replaces an existing segment at the address instead of failing
	// with ErrExist. A symbolic link is refused even with Force.
	Force bool
}

func (o CreateOptions) mode() os.FileMode {
	if o.Mode == 0 {
		return 0o600
	}
	return o.Mode.Perm()
}

// createSegment creates a segment of opts.Size bytes at addr and maps it
// read-write. A file's space is reserved with fallocate, so a full
// /dev/shm fails here with ErrNoSpace instead of raising SIGBUS on a later
// access. The new memory is zero.
//
// The segment appears at addr only once complete: other processes find
// nothing there or the whole zeroed segment. A file is built without a
// name and linked at addr without replacing anything (an existing entry
// gives ErrExist, a symbolic link ErrSymlink); with opts.Force it is
// renamed over an existing regular file, so processes that have the old
// one mapped keep it.
func createSegment(addr Address, opts CreateOptions) (*segment, error) {
	s, err := newSegment(addr, opts)
	if err != nil {
		return nil, err
	}
	if err := s.publish("create"); err != nil {
		return nil, err
	}
	return s, nil
}

// newSegment is the first half of createSegment: it creates and maps a
// segment that no other process can open yet, for the kinds to format
// before they publish it.
func newSegment(addr Address, opts CreateOptions) (*segment, error) {
	if opts.Size <= 0 {
		return nil, wrapErr("create", addr.String(), ErrInvalidSize, nil)
	}
	if addr.Backend() == SysV {
		return createSysV(addr, opts)
	}
	return createFile(addr, opts)
}

// publish makes a segment from newSegment visible at its address, without
// replacing an existing one unless it was created with Force. On failure
// it leaves nothing behind and closes s.
func (s *segment) publish(op string) error {
	b := s.building
	if b == nil {
		return nil
	}
	var err error
	if s.addr.Backend() == SysV {
		err = publishSysV(op, s.addr, s.shmid, b.mode)
	} else {
		err = b.tmp.link(op, s.addr, b.force)
	}
	if err != nil {
		s.Close()
		return err
	}
	s.building = nil
	return nil
}

// openSegment opens and maps an existing segment. readOnly maps it without
// write permission, which is all a reader of a 0644 segment owned by
// another user can get. A segment of size zero is opened but not mapped.
func openSegment(addr Address, readOnly bool) (*segment, error) {
	if addr.Backend() == SysV {
		return openSysV(addr, readOnly)
	}
	return openFile(addr, readOnly)
}

// Addr returns the segment's address.
func (s *segment) Addr() Address { return s.addr }

// Bytes returns the mapping. It is valid until Close; if another process
// shrinks the file, accessing the part past the new end raises SIGBUS,
// which the kinds turn into ErrTruncated.
func (s *segment) Bytes() []byte { return s.data }

// Size returns the length of the mapping.
func (s *segment) Size() int64 { return int64(len(s.data)) }

// ReadOnly reports whether the segment was mapped without write access.
func (s *segment) ReadOnly() bool { return s.readOnly }

// Close unmaps the segment and closes its file. It is safe to call twice.
// A segment closed before it was published is removed.
func (s *segment) Close() error {
	if b := s.building; b != nil {
		s.building = nil
		if s.addr.Backend() == SysV {
			unix.SysvShmCtl(s.shmid, unix.IPC_RMID, nil)
		} else {
			b.tmp.discard()
		}
	}
	var err error
	if s.data != nil {
		err = unmap(s)
		s.data = nil
	}
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	if err != nil {
		return wrapErr("close", s.addr.String(), nil, err)
	}
	return nil
}

// SegmentInfo describes a segment as Stat sees it.
type SegmentInfo struct {
	Addr Address
	Size int64
	Mode os.FileMode
	UID  int
	GID  int
	// ModTime is the last write: the file's modification time. System V
	// keeps no write time; its ModTime is the last change (shm_ctime).
	ModTime time.Time
	// AccessTime is the last read (file atime) or, for System V, the last
	// attach.
	AccessTime time.Time
	ChangeTime time.Time
	// Attached is the System V attach count (shm_nattch), -1 for files,
	// which have no such count.
	Attached int
	// ID is the System V segment id; Key its key (0 when private).
	ID  int
	Key int32
	// CreatorPid and LastPid are System V's shm_cpid and shm_lpid.
	CreatorPid int
	LastPid    int
	// Kind is the kind shmbuf made the segment as: KindRaw, KindSnapshot
	// or KindRing; KindUnknown for a segment of another program, or one
	// this process may not read.
	Kind Kind
	// Lockable is true when raw access is serialised with flock; System V
	// segments have no file to lock.
	Lockable bool
	// Owner and Group name UID and GID, or are their numbers when the
	// system has no name for them.
	Owner, Group string
	// Type is what the path of a posix or file segment holds: "file". List
	// also describes the other entries of ShmDir, which are not segments:
	// "symlink", "dir", "fifo", "socket", "device" or "other". Empty for
	// System V.
	Type string
	// Target is a symbolic link's target (Type "symlink", from List).
	Target string
	// Removed is true for a System V segment marked for removal, which
	// lives on until its last process detaches (ipcs shows "dest").
	Removed bool
}

// Stat describes the segment at addr without mapping it for writing.
func Stat(addr string) (*SegmentInfo, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return statSegment(a)
}

// statSegment is Stat for a parsed address.
func statSegment(a Address) (*SegmentInfo, error) {
	var info *SegmentInfo
	var err error
	if a.Backend() == SysV {
		info, err = statSysV(a)
	} else {
		info, err = statFile(a)
	}
	if err != nil {
		return nil, err
	}
	info.Kind = kindOfSegment(a, info)
	info.Owner, info.Group = userName(info.UID), groupName(info.GID)
	if a.Backend() != SysV {
		info.Type = "file" // statFile refuses anything else
	}
	return info, nil
}

// Remove deletes the segment at addr. A posix or file path that is a
// symbolic link is refused, and the link's target is never touched. A
// System V segment is marked for removal; the kernel frees it when the last
// process detaches.
func Remove(addr string) error {
	a, err := ParseAddress(addr)
	if err != nil {
		return err
	}
	return removeSegment(a)
}

// removeSegment is Remove for a parsed address.
func removeSegment(a Address) error {
	if a.Backend() == SysV {
		return removeSysV(a)
	}
	return removeFile(a)
}
