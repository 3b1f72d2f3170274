package shmbuf

import (
	"errors"
	"os"

	"github.com/shmbuf/shmbuf/internal/layout"
	"golang.org/x/sys/unix"
)

// A resizable raw segment is never shrunk, since another process may have
// it mapped (Python's shared_memory, a C program): a Store writes the new
// value into a new file and renames it over the old one. The lock rules
// follow the file the path names: writers hold an exclusive flock on it
// while they replace it, readers a shared one while they read, and whoever
// takes a lock and then finds another file at the path lets go and starts
// again with that one.

// noReplaceError carries the error of a rename (or of creating the new
// file) that this process is not allowed: another user's file in a sticky
// directory, or a directory it may not write.
type noReplaceError struct{ cause error }

func (e *noReplaceError) Error() string { return "may not replace the file: " + e.cause.Error() }
func (e *noReplaceError) Unwrap() error { return e.cause }

// lockCurrent takes flock(how) on the file at r's path, re-opening the path
// when the file r.f holds is no longer there: a writer replaced it, and its
// content is nobody's value any more. A path that holds nothing gives
// ErrNotExist.
func (r *Raw) lockCurrent(op string, how int) error {
	for {
		if err := lockFile(r.f, how); err != nil {
			return wrapErr("lock", r.addr.String(), nil, err)
		}
		var held, cur unix.Stat_t
		err := unix.Fstat(int(r.f.Fd()), &held)
		if err == nil {
			err = unix.Lstat(r.addr.Path(), &cur)
		}
		if err == nil && held.Dev == cur.Dev && held.Ino == cur.Ino {
			return nil
		}
		lockFile(r.f, unix.LOCK_UN)
		if err != nil {
			return sysErr(onFile, op, r.addr, err)
		}
		if err := r.reopen(op); err != nil {
			return err
		}
	}
}

// reopen replaces r.f with the file now at r's path.
func (r *Raw) reopen(op string) error {
	flags := unix.O_RDWR
	if r.readOnly {
		flags = unix.O_RDONLY
	}
	f, err := openNoFollow(op, r.addr, flags)
	if err != nil {
		return err
	}
	old, oldFixed := r.f, r.fixed
	r.f = f
	if err := r.classify(); err != nil {
		r.f, r.fixed = old, oldFixed
		f.Close()
		return err
	}
	old.Close()
	return nil
}

// replace writes p into a new file beside the locked one, described by
// st, and renames it over the path: processes that have the old file
// mapped keep it, whole. The new file gets the old one's mode, kind mark
// and, where this process may give it away, owner and group (root writing
// a user's segment leaves it the user's). It returns the new file, open
// read-write. A *noReplaceError means this process may not put a file
// there; nothing was changed.
func (r *Raw) replace(p []byte, st *unix.Stat_t) (*os.File, error) {
	mode := os.FileMode(st.Mode & 0o777)
	u, err := newUnnamed("write", r.addr, mode)
	if err != nil {
		if isPermission(err) {
			return nil, &noReplaceError{errors.Unwrap(err)}
		}
		return nil, err
	}
	fd := int(u.f.Fd())
	if int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
		if unix.Fchown(fd, int(st.Uid), int(st.Gid)) == nil {
			unix.Fchmod(fd, uint32(mode)) // chown may clear bits
		}
	}
	if mark, _ := rawMark(int(r.f.Fd())); mark != "" {
		unix.Fsetxattr(fd, rawKindXattr, []byte(mark), 0)
	}
	if err := writeNew("write", r.addr, u.f, p); err != nil {
		u.discard()
		u.f.Close()
		return nil, err
	}
	// The users' lock moves to the new file with this Raw (see Raw).
	if _, err := ofdTryLock(u.f, layout.LockUsers, lockShared); err != nil {
		u.discard()
		u.f.Close()
		return nil, sysErr(onFile, "write", r.addr, err)
	}
	if err := u.renameOver(r.addr.Path()); err != nil {
		u.f.Close()
		if isPermission(err) {
			return nil, &noReplaceError{err}
		}
		return nil, sysErr(onFile, "write", r.addr, err)
	}
	return u.f, nil
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}
