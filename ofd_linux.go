package shmbuf

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Open-file-description locks on one byte of a segment file: the
// liveness proof of file-backed segments (the protocol is described in
// internal/layout/locks.go). Every function takes the offset of the byte.

// Lock types of ofdTryLock.
const (
	lockShared    = unix.F_RDLCK
	lockExclusive = unix.F_WRLCK
)

func ofdLock(off int64, typ int16) *unix.Flock_t {
	return &unix.Flock_t{Type: typ, Whence: 0, Start: off, Len: 1}
}

// ofdTryLock takes a lock of type typ (F_RDLCK or F_WRLCK) on byte off
// for f's open file description without waiting. It reports false when
// another description holds a conflicting lock.
func ofdTryLock(f *os.File, off int64, typ int16) (bool, error) {
	err := retryEINTR0(func() error { return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, ofdLock(off, typ)) })
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// ofdWaitLock takes an exclusive lock on byte off, waiting for it.
func ofdWaitLock(f *os.File, off int64) error {
	return retryEINTR0(func() error { return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, ofdLock(off, unix.F_WRLCK)) })
}

// ofdUnlock releases f's lock on byte off.
func ofdUnlock(f *os.File, off int64) error {
	return retryEINTR0(func() error { return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, ofdLock(off, unix.F_UNLCK)) })
}

// closeSlotLock releases a Writer's or Reader's slot lock (byte off) and
// closes its description. Closing alone is not enough: a child this
// process forks holds a copy of every descriptor until it execs, and the
// copy keeps the description, and so the lock, alive meanwhile, which
// made NewWriter fail with ErrWritersFull in a process that forks while
// writers come and go. An explicit unlock releases the description's
// lock whoever else holds a descriptor of it.
func closeSlotLock(f *os.File, off int64) {
	ofdUnlock(f, off)
	f.Close()
}

// ofdHeld reports whether another open file description than f's holds
// any lock on byte off. ok is false when the kernel could not say.
func ofdHeld(f *os.File, off int64) (held, ok bool) {
	lk := ofdLock(off, unix.F_WRLCK)
	if err := retryEINTR0(func() error { return unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, lk) }); err != nil {
		return false, false
	}
	return lk.Type != unix.F_UNLCK, true
}

// reopenSegment opens a new open file description of seg's file, read
// and write, for a ring Writer or Reader to hold its slot lock on: locks
// of one description never conflict with each other. It goes through
// /proc/self/fd so that it reaches the same file even if the name was
// removed or replaced; where that is not available, it opens the path
// and checks that it is still the same file.
func reopenSegment(seg *segment) (*os.File, error) {
	a := seg.addr
	fd, err := retryEINTR(func() (int, error) {
		return unix.Open("/proc/self/fd/"+strconv.Itoa(int(seg.f.Fd())), unix.O_RDWR|unix.O_CLOEXEC, 0)
	})
	if err == nil {
		return os.NewFile(uintptr(fd), a.Path()), nil
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return nil, sysErr(onFile, "open", a, err)
	}
	fd, err = retryEINTR(func() (int, error) {
		return unix.Open(a.Path(), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	})
	if err != nil {
		return nil, sysErr(onFile, "open", a, err)
	}
	var have, want unix.Stat_t
	if err := unix.Fstat(fd, &have); err != nil {
		unix.Close(fd)
		return nil, sysErr(onFile, "open", a, err)
	}
	if err := unix.Fstat(int(seg.f.Fd()), &want); err != nil {
		unix.Close(fd)
		return nil, sysErr(onFile, "open", a, err)
	}
	if have.Dev != want.Dev || have.Ino != want.Ino {
		unix.Close(fd)
		return nil, wrapErr("open", a.String(), ErrNotExist, errors.New("the segment was replaced"))
	}
	return os.NewFile(uintptr(fd), a.Path()), nil
}
