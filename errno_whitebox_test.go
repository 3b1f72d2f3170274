package shmbuf

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestErrnoRules: each errno a system call returns becomes the sentinel
// its call means, inside an *Error that names the operation and the
// address. EINVAL from shmctl or shmat on a key address means the
// segment went away between the lookup and the call, not a bad size.
func TestErrnoRules(t *testing.T) {
	key, err := ParseAddress("sysv:0x1234")
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParseAddress("posix:x")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		on       sysCall
		a        Address
		errno    unix.Errno
		sentinel error // nil: none, the errno alone
		keep     bool  // errors.Is finds the errno too
		says     string
	}{
		{onFile, file, unix.ENOENT, ErrNotExist, false, "no such segment"},
		{onFile, file, unix.EEXIST, ErrExist, false, ""},
		{onFile, file, unix.ELOOP, ErrSymlink, false, ""},
		{onFile, file, unix.EISDIR, ErrNotRegular, false, ""},
		{onFile, file, unix.ENOSPC, ErrNoSpace, true, ""},
		{onFile, file, unix.EFBIG, ErrNoSpace, true, ""},
		{onFile, file, unix.ENOMEM, ErrNoSpace, true, ""},
		{onFile, file, unix.EMFILE, ErrLimit, true, "RLIMIT_NOFILE="},
		{onFile, file, unix.ENFILE, ErrLimit, true, "fs.file-max="},
		{onFile, file, unix.EACCES, nil, true, "permission denied"},
		{onMap, file, unix.ENOMEM, ErrLimit, true, "RLIMIT_AS="},
		{onMap, file, unix.EINVAL, nil, true, ""},
		{onShmget, key, unix.ENOENT, ErrNotExist, false, ""},
		{onShmget, key, unix.EEXIST, ErrExist, false, ""},
		{onShmget, key, unix.ENOSPC, ErrNoSpace, true, ""},
		{onShmget, key, unix.ENOMEM, ErrNoSpace, true, ""},
		{onShmget, key, unix.EINVAL, ErrInvalidSize, false, "SHMMIN..SHMMAX"},
		{onShmget, key, unix.ELOOP, nil, true, ""},
		{onShmid, key, unix.EINVAL, ErrNotExist, false, ""},
		{onShmid, key, unix.EIDRM, ErrNotExist, false, ""},
		{onShmat, key, unix.EINVAL, ErrNotExist, false, ""},
		{onShmat, key, unix.ENOMEM, ErrLimit, true, "vm.max_map_count="},
	}
	for _, tt := range tests {
		err := sysErr(tt.on, "open", tt.a, tt.errno)
		var e *Error
		if !errors.As(err, &e) || e.Op != "open" || e.Addr != tt.a.String() {
			t.Errorf("%v after call %b: %v (%T), want an *Error of open %v", tt.errno, tt.on, err, err, tt.a)
			continue
		}
		if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
			t.Errorf("%v after call %b: %v, want %v", tt.errno, tt.on, err, tt.sentinel)
		}
		if got := errors.Is(err, tt.errno); got != tt.keep {
			t.Errorf("%v after call %b: %v; errors.Is(err, errno) = %v, want %v", tt.errno, tt.on, err, got, tt.keep)
		}
		if !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%v after call %b: %q does not say %q", tt.errno, tt.on, err, tt.says)
		}
	}
	if err := sysErr(onFile, "open", file, unix.EACCES); !errors.Is(err, os.ErrPermission) {
		t.Errorf("EACCES: %v is not os.ErrPermission", err)
	}
}
