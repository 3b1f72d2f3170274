package shmbuf

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/shmbuf/shmbuf/internal/bytesize"
	"golang.org/x/sys/unix"
)

// openNoFollow opens path without following a symbolic link in its last
// component and checks that it is a regular file. O_NONBLOCK keeps a
// read-only open of a FIFO from waiting for a writer; it is cleared once
// the file is known to be regular.
func openNoFollow(op string, a Address, flags int) (*os.File, error) {
	fd, err := retryEINTR(func() (int, error) {
		return unix.Open(a.Path(), flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	})
	if err != nil {
		return nil, sysErr(onFile, op, a, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, sysErr(onFile, op, a, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, wrapErr(op, a.String(), ErrNotRegular, nil)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, sysErr(onFile, op, a, err)
	}
	return os.NewFile(uintptr(fd), a.Path()), nil
}

// checkSpace refuses a size larger than the file system holding path can
// still provide, before anything is created.
func checkSpace(op string, a Address, size int64) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(a.Path()), &fs); err != nil {
		return sysErr(onFile, op, a, err)
	}
	avail := int64(fs.Bavail) * fs.Bsize
	if fs.Bavail > 0 && size > avail {
		return wrapErr(op, a.String(), ErrNoSpace, errors.New(
			bytesize.Format(size)+" requested, "+bytesize.Format(avail)+" available in "+filepath.Dir(a.Path())))
	}
	return nil
}

// reserve allocates size bytes for f so that later stores cannot fail for
// lack of space. File systems without fallocate fall back to ftruncate.
func reserve(op string, a Address, f *os.File, size int64) error {
	err := retryEINTR0(func() error { return unix.Fallocate(int(f.Fd()), 0, 0, size) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		err = f.Truncate(size)
	}
	if err != nil {
		return sysErr(onFile, op, a, err)
	}
	return nil
}

// createFile builds a file segment of opts.Size bytes where no other
// process can open it yet; publish links it into place.
func createFile(a Address, opts CreateOptions) (*segment, error) {
	if err := occupied("create", a, opts.Force); err != nil {
		return nil, err
	}
	if err := checkSpace("create", a, opts.Size); err != nil {
		return nil, err
	}
	u, err := newUnnamed("create", a, opts.mode())
	if err != nil {
		return nil, err
	}
	s, err := func() (*segment, error) {
		if err := reserve("create", a, u.f, opts.Size); err != nil {
			return nil, err
		}
		return mapFile(a, u.f, opts.Size, false)
	}()
	if err != nil {
		u.discard()
		u.f.Close()
		return nil, err
	}
	s.building = &building{tmp: u, force: opts.Force}
	return s, nil
}

func openFile(a Address, readOnly bool) (*segment, error) {
	flags := unix.O_RDWR
	if readOnly {
		flags = unix.O_RDONLY
	}
	f, err := openNoFollow("open", a, flags)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, sysErr(onFile, "open", a, err)
	}
	s, err := mapFile(a, f, fi.Size(), readOnly)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func mapFile(a Address, f *os.File, size int64, readOnly bool) (*segment, error) {
	s := &segment{addr: a, f: f, readOnly: readOnly, shmid: -1}
	if size == 0 {
		return s, nil
	}
	if size < 0 || int64(int(size)) != size {
		return nil, wrapErr("map", a.String(), ErrInvalidSize, nil)
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if readOnly {
		prot = unix.PROT_READ
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, sysErr(onMap, "map", a, err)
	}
	s.data = data
	return s, nil
}

func unmap(s *segment) error {
	if s.addr.Backend() == SysV {
		return unix.SysvShmDetach(s.data)
	}
	return unix.Munmap(s.data)
}

func removeFile(a Address) error {
	var st unix.Stat_t
	if err := unix.Lstat(a.Path(), &st); err != nil {
		return sysErr(onFile, "remove", a, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return wrapErr("remove", a.String(), ErrSymlink, nil)
	case unix.S_IFREG:
	default:
		return wrapErr("remove", a.String(), ErrNotRegular, nil)
	}
	if err := unix.Unlink(a.Path()); err != nil {
		return sysErr(onFile, "remove", a, err)
	}
	// A replacement of this segment whose writer died may have left its
	// file under the hidden name.
	clearHidden(hiddenPath(a.Path()))
	return nil
}

func statFile(a Address) (*SegmentInfo, error) {
	var st unix.Stat_t
	if err := unix.Lstat(a.Path(), &st); err != nil {
		return nil, sysErr(onFile, "stat", a, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return nil, wrapErr("stat", a.String(), ErrSymlink, nil)
	case unix.S_IFREG:
	default:
		return nil, wrapErr("stat", a.String(), ErrNotRegular, nil)
	}
	return &SegmentInfo{
		Addr:       a,
		Size:       st.Size,
		Mode:       os.FileMode(st.Mode & 0o777),
		UID:        int(st.Uid),
		GID:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Unix()),
		AccessTime: time.Unix(st.Atim.Unix()),
		ChangeTime: time.Unix(st.Ctim.Unix()),
		Attached:   -1,
		ID:         -1,
		Lockable:   true,
	}, nil
}

// lockFile takes flock(how) on f, retrying when a signal interrupts the
// wait (as go-internal's filelock does).
func lockFile(f *os.File, how int) error {
	return retryEINTR0(func() error { return unix.Flock(int(f.Fd()), how) })
}

func retryEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}

func retryEINTR0(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
