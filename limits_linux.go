package shmbuf

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLimit is returned when a per-process or system-wide limit stops an
// open or a mapping: the file-descriptor limit (RLIMIT_NOFILE, fs.file-max)
// or the mapping limits (vm.max_map_count, RLIMIT_AS). The message names
// the limit and its current value.
var ErrLimit = errors.New("resource limit reached")

// limitErr explains err when it is a limit being hit, naming the limit;
// otherwise it returns nil.
func limitErr(op string, a Address, err error) error {
	switch {
	case errors.Is(err, unix.EMFILE):
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		return wrapErr(op, a.String(), ErrLimit, fmt.Errorf("file-descriptor limit RLIMIT_NOFILE=%d reached: %w", rl.Cur, err))
	case errors.Is(err, unix.ENFILE):
		return wrapErr(op, a.String(), ErrLimit, fmt.Errorf("system-wide file limit fs.file-max=%s reached: %w", sysctl("fs/file-max"), err))
	}
	return nil
}

// mapLimitErr explains an ENOMEM from mmap or shmat, which on Linux means
// the address-space limit or the mapping-count limit, not a lack of RAM.
func mapLimitErr(op string, a Address, err error) error {
	if !errors.Is(err, unix.ENOMEM) {
		return nil
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_AS, &rl)
	as := "unlimited"
	if rl.Cur != unix.RLIM_INFINITY {
		as = FormatSize(int64(rl.Cur))
	}
	return wrapErr(op, a.String(), ErrLimit, fmt.Errorf(
		"mapping limit reached (RLIMIT_AS=%s, vm.max_map_count=%s): %w", as, sysctl("vm/max_map_count"), err))
}

func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
