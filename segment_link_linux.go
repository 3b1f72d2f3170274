package shmbuf

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A file segment appears under its name only when it is complete. Its
// creator builds it without a name (O_TMPFILE in the target directory) or,
// where the file system has no O_TMPFILE, under a hidden temporary name;
// sizes, formats, marks and chmods it; then links it into place with an
// operation that fails rather than replaces (linkat of /proc/self/fd/N,
// renameat2 with RENAME_NOREPLACE). Every other process finds nothing at
// the name or the finished segment. Replacing (Force, and raw stores) is a
// rename over the old name: a process that has the old file mapped keeps
// its inode, and a process opening the name meanwhile finds the old file
// or the new one, never no file.
//
// Hidden names start with tmpPrefix. A creator killed while its file has
// one leaves it behind: for the few instructions between naming an
// O_TMPFILE file and renaming it when replacing (that name is one per
// target, removed by the next replacement or removal of the target), or
// for the whole build where the file system has no O_TMPFILE (then the
// name is random and stays until removed by hand).

// tmpPrefix begins the hidden names of files under construction.
const tmpPrefix = ".shmbuf-tmp-"

// noTmpfile makes newUnnamed use a hidden name even where O_TMPFILE
// works, so that tests cover the fallback.
var noTmpfile bool

// procFDs reports whether /proc/self/fd is there: linking an O_TMPFILE
// file by its /proc path is what lets a user without CAP_DAC_READ_SEARCH
// name it (linkat with AT_EMPTY_PATH needs that capability).
var procFDs = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// unnamedFile is a regular file being built in the directory of its final
// path.
type unnamedFile struct {
	f *os.File
	// hidden is the temporary path of a file built under a name, "" for an
	// O_TMPFILE file (which has none) or once the file is linked.
	hidden string
}

// newUnnamed creates an empty regular file with exactly mode (the umask
// does not apply) in the directory of a.Path(), where no other process can
// find it.
func newUnnamed(op string, a Address, mode os.FileMode) (*unnamedFile, error) {
	dir := filepath.Dir(a.Path())
	if !noTmpfile && procFDs() {
		fd, err := retryEINTR(func() (int, error) {
			return unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(mode.Perm()))
		})
		switch {
		case err == nil:
			return finishUnnamed(op, a, fd, "", mode)
		// EOPNOTSUPP: the file system has no O_TMPFILE; EISDIR and EINVAL:
		// the kernel predates it.
		case !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL):
			return nil, sysErr(onFile, op, a, err)
		}
	}
	for {
		hidden := filepath.Join(dir, hiddenName())
		fd, err := retryEINTR(func() (int, error) {
			return unix.Open(hidden, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		})
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, sysErr(onFile, op, a, err)
		}
		return finishUnnamed(op, a, fd, hidden, mode)
	}
}

func finishUnnamed(op string, a Address, fd int, hidden string, mode os.FileMode) (*unnamedFile, error) {
	u := &unnamedFile{f: os.NewFile(uintptr(fd), a.Path()), hidden: hidden}
	// The umask may have narrowed the mode; the caller asked for it
	// exactly.
	if err := unix.Fchmod(fd, uint32(mode.Perm())); err != nil {
		u.discard()
		u.f.Close()
		return nil, sysErr(onFile, op, a, err)
	}
	return u, nil
}

func hiddenName() string {
	return tmpPrefix + strconv.FormatUint(rand.Uint64(), 36)
}

// discard removes the hidden name, if any: what a failed creation must
// not leave behind. The file itself goes when its descriptor is closed.
func (u *unnamedFile) discard() {
	if u.hidden != "" {
		unix.Unlink(u.hidden)
		u.hidden = ""
	}
}

// link gives the file the name a.Path(). Without replace it never replaces
// anything: an existing entry makes it fail with ErrExist (ErrSymlink for a
// symbolic link). With replace it renames the file over an existing
// regular file, atomically. On failure nothing is left behind.
func (u *unnamedFile) link(op string, a Address, replace bool) error {
	err := u.linkNoReplace(a.Path())
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		u.discard()
		return sysErr(onFile, op, a, err)
	}
	if err := occupied(op, a, replace); err != nil {
		u.discard()
		return err
	}
	if !replace {
		// Gone again between the link and the look: still not ours.
		u.discard()
		return wrapErr(op, a.String(), ErrExist, nil)
	}
	if err := u.renameOver(a.Path()); err != nil {
		return sysErr(onFile, op, a, err)
	}
	return nil
}

// occupied says why the entry at a.Path() stops a creation: ErrSymlink for
// a symbolic link, ErrExist for anything else unless replace, and then
// ErrNotRegular for what is not a regular file. It is nil when the path is
// free or replaceable. Creators call it first to fail before building a
// segment; link's own outcome is what decides.
func occupied(op string, a Address, replace bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(a.Path(), &st); err != nil {
		return nil
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return wrapErr(op, a.String(), ErrSymlink, nil)
	case !replace:
		return wrapErr(op, a.String(), ErrExist, nil)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return wrapErr(op, a.String(), ErrNotRegular, nil)
	}
	return nil
}

// linkNoReplace links the file at path, failing with EEXIST if anything is
// there.
func (u *unnamedFile) linkNoReplace(path string) error {
	if u.hidden == "" {
		return linkTmpfile(u.f, path)
	}
	err := unix.Renameat2(unix.AT_FDCWD, u.hidden, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: link(2) never replaces either.
		if err = unix.Link(u.hidden, path); err == nil {
			unix.Unlink(u.hidden)
		}
	}
	if err == nil {
		u.hidden = ""
	}
	return err
}

// renameOver renames the file over whatever regular file is at path. An
// O_TMPFILE file first gets a hidden name, since rename needs one; it
// holds an exclusive flock from before it has that name until it has been
// renamed, so that a process finding the hidden name can tell a live
// builder's file from the leftover of one that died in between. The hidden
// name is removed if the rename fails.
func (u *unnamedFile) renameOver(path string) error {
	if u.hidden == "" {
		if err := lockFile(u.f, unix.LOCK_EX); err != nil {
			return err
		}
		defer lockFile(u.f, unix.LOCK_UN)
		if err := u.linkHidden(path); err != nil {
			return err
		}
	}
	if err := unix.Rename(u.hidden, path); err != nil {
		u.discard()
		return err
	}
	u.hidden = ""
	return nil
}

// linkHidden names an O_TMPFILE file by the hidden name of path, taking
// it over from a builder that died, or by a random hidden name when that
// one cannot be had.
func (u *unnamedFile) linkHidden(path string) error {
	h := hiddenPath(path)
	for range 3 {
		err := linkTmpfile(u.f, h)
		if err == nil {
			u.hidden = h
			return nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return err
		}
		if !clearHidden(h) {
			break
		}
	}
	for {
		h := filepath.Join(filepath.Dir(path), hiddenName())
		err := linkTmpfile(u.f, h)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err == nil {
			u.hidden = h
		}
		return err
	}
}

// hiddenPath is the name under which a file replacing path is renamed
// into place: one per path, so that a leftover is found and removed by the
// next replacement of the same path (or its removal).
func hiddenPath(path string) string {
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(path)))
	return filepath.Join(filepath.Dir(path), tmpPrefix+strconv.FormatUint(h.Sum64(), 36))
}

// clearHidden removes the hidden name h when no live builder holds it
// (see renameOver), waiting for one that does. It reports whether h may
// be free now; false means h belongs to something this process may not
// open or remove.
func clearHidden(h string) bool {
	fd, err := unix.Open(h, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.EACCES) {
		fd, err = unix.Open(h, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	}
	if errors.Is(err, unix.ENOENT) {
		return true
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var held, cur unix.Stat_t
	if retryEINTR0(func() error { return unix.Flock(fd, unix.LOCK_EX) }) != nil || unix.Fstat(fd, &held) != nil {
		return false
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	if unix.Lstat(h, &cur) != nil || cur.Dev != held.Dev || cur.Ino != held.Ino {
		return true // renamed into place by its builder meanwhile
	}
	if held.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	return unix.Unlink(h) == nil
}

// linkTmpfile gives an O_TMPFILE file the name path, never replacing.
func linkTmpfile(f *os.File, path string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}
