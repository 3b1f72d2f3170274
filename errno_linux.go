package shmbuf

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/shmbuf/shmbuf/internal/bytesize"
	"golang.org/x/sys/unix"
)

// sysCall says which kind of system call failed: one errno means
// different things after different calls (ENOMEM from mmap is a mapping
// limit, from shmget a lack of memory; EINVAL from shmget is a size the
// kernel refuses, from shmctl an id that names nothing).
type sysCall uint8

const (
	onFile   sysCall = 1 << iota // open, stat, link, rename, fallocate, pwrite, fcntl
	onMap                        // mmap, shmat: the address space
	onShmget                     // shmget: a key and a size
	onShmid                      // shmctl, shmat: an id

	onShmat = onMap | onShmid
)

// errnoRule is one row of errnoRules.
type errnoRule struct {
	errno    unix.Errno
	on       sysCall // the calls the row applies to; 0 for every call
	sentinel error
	// keep leaves the errno in the message, beside the sentinel.
	keep bool
	// why, when set, says what the sentinel alone does not: the limit
	// reached and its value. It is in the message in the errno's place.
	why func() string
}

// errnoRules is the one table from a failed system call's errno to the
// sentinel it means. The first row that matches the errno and the call
// decides; an errno no row matches is returned as it is, inside an
// *Error, where errors.Is still finds it (and os.ErrPermission for
// EACCES and EPERM).
var errnoRules = []errnoRule{
	{errno: unix.EMFILE, sentinel: ErrLimit, keep: true, why: func() string {
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		return fmt.Sprintf("file-descriptor limit RLIMIT_NOFILE=%d reached", rl.Cur)
	}},
	{errno: unix.ENFILE, sentinel: ErrLimit, keep: true, why: func() string {
		return "system-wide file limit fs.file-max=" + sysctl("fs/file-max") + " reached"
	}},
	// ENOMEM from mmap or shmat means the address-space limit or the
	// mapping-count limit, not a lack of RAM.
	{errno: unix.ENOMEM, on: onMap, sentinel: ErrLimit, keep: true, why: func() string {
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_AS, &rl)
		as := "unlimited"
		if rl.Cur != unix.RLIM_INFINITY {
			as = bytesize.Format(int64(rl.Cur))
		}
		return "mapping limit reached (RLIMIT_AS=" + as + ", vm.max_map_count=" + sysctl("vm/max_map_count") + ")"
	}},
	{errno: unix.ENOMEM, sentinel: ErrNoSpace, keep: true},
	{errno: unix.ENOSPC, sentinel: ErrNoSpace, keep: true},
	{errno: unix.EFBIG, on: onFile, sentinel: ErrNoSpace, keep: true},
	{errno: unix.ENOENT, sentinel: ErrNotExist},
	{errno: unix.EIDRM, sentinel: ErrNotExist},
	{errno: unix.EINVAL, on: onShmid, sentinel: ErrNotExist},
	{errno: unix.EINVAL, on: onShmget, sentinel: ErrInvalidSize, why: func() string {
		return "size outside the kernel's SHMMIN..SHMMAX or larger than the existing segment"
	}},
	{errno: unix.EEXIST, sentinel: ErrExist},
	// open with O_NOFOLLOW fails with ELOOP on a symbolic link.
	{errno: unix.ELOOP, on: onFile, sentinel: ErrSymlink},
	// A directory fails open for writing before fstat can see it.
	{errno: unix.EISDIR, on: onFile, sentinel: ErrNotRegular},
}

// sysErr is the *Error for err, returned by a system call of kind on
// during op on a: the sentinel of the first row of errnoRules that
// matches, or err itself.
func sysErr(on sysCall, op string, a Address, err error) error {
	for _, r := range errnoRules {
		if !errors.Is(err, r.errno) || (r.on != 0 && r.on&on == 0) {
			continue
		}
		var cause error
		switch {
		case r.why != nil && r.keep:
			cause = fmt.Errorf("%s: %w", r.why(), err)
		case r.why != nil:
			cause = errors.New(r.why())
		case r.keep:
			cause = err
		}
		return wrapErr(op, a.String(), r.sentinel, cause)
	}
	return wrapErr(op, a.String(), nil, err)
}

// sysctl reads a value of /proc/sys for a message, "?" when unreadable.
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
