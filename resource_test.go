package shmbuf_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
	"golang.org/x/sys/unix"
)

// Resource-fault suite. Each case runs in a child process, so that a
// lowered limit or a private /dev/shm cannot disturb the other tests; the
// child checks its expectations and exits non-zero with a message when one
// fails.

func init() {
	childRoles["small-tmpfs"] = childSmallTmpfs
	childRoles["fd-limit"] = childFDLimit
	childRoles["map-limit"] = childMapLimit
}

func childFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	return 1
}

// shmEntries lists /dev/shm, which in this child is a private 1 MiB tmpfs.
func shmEntries() []string {
	ents, _ := os.ReadDir(shmbuf.ShmDir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func childSmallTmpfs() int {
	if e := shmEntries(); len(e) != 0 {
		return childFail("private /dev/shm not empty: %v", e)
	}
	noSpace := func(what string, err error) int {
		if !errors.Is(err, shmbuf.ErrNoSpace) || !strings.Contains(err.Error(), "no space") {
			return childFail("%s: got %v, want a no-space error", what, err)
		}
		if e := shmEntries(); len(e) > 1 || (len(e) == 1 && e[0] != "keep") {
			return childFail("%s left %v behind", what, e)
		}
		return 0
	}
	_, err := shmbuf.CreateSnapshot("big-snapshot", shmbuf.CreateOptions{Size: 4 << 20})
	if rc := noSpace("4 MiB snapshot", err); rc != 0 {
		return rc
	}
	_, err = shmbuf.CreateRaw("big-raw", shmbuf.CreateOptions{Size: 2 << 20})
	if rc := noSpace("2 MiB raw region", err); rc != 0 {
		return rc
	}
	err = shmbuf.StoreRaw("big-value", make([]byte, 2<<20), 0)
	if rc := noSpace("2 MiB raw value", err); rc != 0 {
		return rc
	}
	// Space taken by another segment counts: 700 KiB fits once, not twice.
	if err := shmbuf.StoreRaw("keep", bytes.Repeat([]byte{'k'}, 700<<10), 0); err != nil {
		return childFail("700 KiB value: %v", err)
	}
	_, err = shmbuf.CreateSnapshot("second", shmbuf.CreateOptions{Size: 700 << 10})
	if rc := noSpace("second 700 KiB segment", err); rc != 0 {
		return rc
	}
	// A replacement too large for what is left leaves the old value whole.
	err = shmbuf.StoreRaw("keep", make([]byte, 2<<20), 0)
	if rc := noSpace("growing a value past the space left", err); rc != 0 {
		return rc
	}
	if b, _ := os.ReadFile(shmbuf.ShmDir + "/keep"); len(b) != 700<<10 || b[0] != 'k' {
		return childFail("old value damaged by the refused store: %d bytes", len(b))
	}
	// A replacement needs room for the old value and the new one; when
	// there is none, a value at least as long is written in place (no
	// mapping minds a file that does not shrink), and a shorter one is
	// refused.
	if err := shmbuf.StoreRaw("keep", bytes.Repeat([]byte{'j'}, 750<<10), 0); err != nil {
		return childFail("750 KiB over 700 KiB with room for one: %v", err)
	}
	if b, _ := os.ReadFile(shmbuf.ShmDir + "/keep"); len(b) != 750<<10 || b[0] != 'j' || b[len(b)-1] != 'j' {
		return childFail("after the in-place store: %d bytes", len(b))
	}
	err = shmbuf.StoreRaw("keep", bytes.Repeat([]byte{'s'}, 600<<10), 0)
	if rc := noSpace("600 KiB over 750 KiB with room for one", err); rc != 0 {
		return rc
	}
	if b, _ := os.ReadFile(shmbuf.ShmDir + "/keep"); len(b) != 750<<10 || b[0] != 'j' {
		return childFail("old value damaged by the refused store: %d bytes", len(b))
	}
	return 0
}

func TestResource_NoSpaceOnSmallTmpfs(t *testing.T) {
	t.Parallel()
	testenv.Root(t, "to mount a private tmpfs")
	testenv.Tool(t, "unshare")
	// unshare -m gives the child a private mount namespace, so the small
	// tmpfs hides /dev/shm only from it.
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=1m shmbuf-test /dev/shm && exec "$0" -test.run='^$'`, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=small-tmpfs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a 1 MiB /dev/shm: %v\n%s", err, out)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func childFDLimit() int {
	name := fmt.Sprintf("shmbuf-fdlimit-%d", os.Getpid())
	s, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		return childFail("create: %v", err)
	}
	defer shmbuf.Remove(name)
	defer s.Close()
	limit := uint64(openFDs() + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		return childFail("setrlimit: %v", err)
	}
	var open []*shmbuf.Snapshot
	defer func() {
		for _, o := range open {
			o.Close()
		}
	}()
	for range 100 {
		o, err := shmbuf.OpenSnapshot(name)
		if err == nil {
			open = append(open, o)
			continue
		}
		if !errors.Is(err, shmbuf.ErrLimit) || !errors.Is(err, unix.EMFILE) ||
			!strings.Contains(err.Error(), "RLIMIT_NOFILE="+strconv.FormatUint(limit, 10)) {
			return childFail("at the fd limit: got %v, want ErrLimit naming RLIMIT_NOFILE=%d", err, limit)
		}
		if len(open) == 0 {
			return childFail("limit hit before any open succeeded")
		}
		return 0
	}
	return childFail("100 opens under RLIMIT_NOFILE=%d never failed", limit)
}

func TestResource_FileDescriptorLimit(t *testing.T) {
	t.Parallel()
	cmd := childCmd(t, "fd-limit")
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// vmSize reads this process's mapped address space in bytes.
func vmSize() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}

func childMapLimit() int {
	// The test removes the segment: a child near its address-space limit
	// can die in the runtime before a deferred Remove runs.
	name := os.Getenv("MAP_LIMIT_NAME")
	s, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 256 << 20})
	if err != nil {
		return childFail("create: %v", err)
	}
	defer shmbuf.Remove(name)
	s.Close()
	vm, err := vmSize()
	if err != nil {
		return childFail("%v", err)
	}
	// Leave room for the runtime, not for a second 512 MiB mapping.
	limit := vm + 64<<20
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}); err != nil {
		return childFail("setrlimit: %v", err)
	}
	o, err := shmbuf.OpenSnapshot(name)
	if err == nil {
		o.Close()
		return childFail("a 512 MiB mapping succeeded under RLIMIT_AS=%d", limit)
	}
	if !errors.Is(err, shmbuf.ErrLimit) || !strings.Contains(err.Error(), "RLIMIT_AS=") {
		return childFail("over the address-space limit: got %v, want ErrLimit naming RLIMIT_AS", err)
	}
	return 0
}

func TestResource_MappingLimit(t *testing.T) {
	t.Parallel()
	name := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(name) })
	cmd := childCmd(t, "map-limit", "MAP_LIMIT_NAME="+name)
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
