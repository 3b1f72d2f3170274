package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/shmbuf/shmbuf"
	"golang.org/x/sys/unix"
)

// write --mode on a segment that already exists changes its mode, as
// chmod would, when the caller owns it; otherwise write refuses the flag
// (exit 2) before it writes anything.

// errNotOwner is why --mode cannot apply.
var errNotOwner = errors.New("only its owner can change its mode")

// checkModeOwner checks that this process may change the mode of the
// segment info describes: it owns it, or it is root.
func checkModeOwner(info *shmbuf.SegmentInfo) error {
	if euid := os.Geteuid(); euid != 0 && euid != info.UID {
		return fmt.Errorf("%w: it belongs to %s (uid %d)", errNotOwner, info.Owner, info.UID)
	}
	return nil
}

// chmodSegment sets the permission bits of the segment at a. A symbolic
// link is never followed: the path is opened O_PATH|O_NOFOLLOW, checked to
// be a regular file, and changed through /proc/self/fd, which names that
// very file.
func chmodSegment(a shmbuf.Address, mode os.FileMode) error {
	perm := uint32(mode.Perm())
	if a.Backend() == shmbuf.SysV {
		id := a.ID()
		if id < 0 { // sysv:KEY
			info, err := shmbuf.Stat(a.String())
			if err != nil {
				return err
			}
			id = info.ID
		}
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
			return modeErr(err)
		}
		d.Perm.Mode = d.Perm.Mode&^0o777 | perm
		_, err := unix.SysvShmCtl(id, unix.IPC_SET, &d)
		return modeErr(err)
	}
	fd, err := unix.Open(a.Path(), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return modeErr(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return modeErr(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return shmbuf.ErrSymlink
	default:
		return shmbuf.ErrNotRegular
	}
	return modeErr(unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), perm))
}

// modeErr words a failed mode change: EPERM means the caller does not own
// the segment.
func modeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (%v)", errNotOwner, err)
	}
	return fmt.Errorf("changing the mode: %w", err)
}
