package shmbuf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A System V key is visible from the moment shmget creates the segment,
// before its creator has written a header, and System V has no way to
// build a segment under another key and rename it. So a new segment is
// created with a mode that marks it as being built, sysvBuildingMode, and
// gets the requested mode only after it is formatted (IPC_SET in
// publishSysV). An opener that finds the mark waits for it to go, up to
// sysvBuildWait, while the creator (shm_cpid) may be alive; a creator that
// died or that takes longer gives ErrIncomplete.
//
// The mark is a mode rather than 0000 because a creator without
// CAP_IPC_OWNER could not attach a 0000 segment itself: 0611 lets the owner
// read and write, lets nobody else attach, and is a mode no one asks for
// (execute bits mean nothing to System V memory). Root, and processes of
// the creator's user, can attach a segment being built, but they see the
// mark (IPC_STAT, or /proc/sysvipc/shm when IPC_STAT is refused) and wait.
// Asking for mode 0611 is refused.
const (
	sysvBuildingMode = 0o611
	sysvBuildWait    = 2 * time.Second
)

// publishSysV gives a formatted segment its requested mode, which removes
// the building mark. Partner: the mode check in awaitSysV.
func publishSysV(op string, a Address, id int, mode os.FileMode) error {
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
		return sysErr(onShmid, op, a, err)
	}
	d.Perm.Mode = uint32(mode.Perm())
	if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &d); err != nil {
		return sysErr(onShmid, op, a, err)
	}
	return nil
}

// awaitSysV returns once segment id no longer carries the building mark.
func awaitSysV(op string, a Address, id int) error {
	deadline := time.Now().Add(sysvBuildWait)
	for delay := 50 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		mode, cpid, err := sysvPerm(id)
		if err != nil {
			return sysErr(onShmid, op, a, err)
		}
		if mode != sysvBuildingMode {
			return nil
		}
		// A pid outside this pid namespace reads as 0: alive, as far as
		// anyone here can tell, so the wait runs to its end.
		if cpid > 0 && unix.Kill(cpid, 0) == unix.ESRCH {
			return wrapErr(op, a.String(), ErrIncomplete, fmt.Errorf("its creator, pid %d, died before finishing it", cpid))
		}
		if time.Now().After(deadline) {
			return wrapErr(op, a.String(), ErrIncomplete, fmt.Errorf("its creator, pid %d, has not finished it after %v", cpid, sysvBuildWait))
		}
		time.Sleep(delay)
	}
}

// sysvPerm reads the permission bits and creator of segment id. IPC_STAT
// needs read permission, which nobody but the creator has while the
// segment is being built; /proc/sysvipc/shm shows every segment to anyone.
func sysvPerm(id int) (mode uint32, cpid int, err error) {
	var d unix.SysvShmDesc
	_, err = unix.SysvShmCtl(id, unix.IPC_STAT, &d)
	if err == nil {
		return d.Perm.Mode & 0o777, int(d.Cpid), nil
	}
	if !errors.Is(err, unix.EACCES) {
		return 0, 0, err
	}
	f, ferr := os.Open("/proc/sysvipc/shm")
	if ferr != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the column names: key shmid perms size cpid ...
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 5 || string(fields[1]) != strconv.Itoa(id) {
			continue
		}
		perms, perr := strconv.ParseUint(string(fields[2]), 8, 32)
		pid, cerr := strconv.Atoi(string(fields[4]))
		if perr != nil || cerr != nil {
			return 0, 0, err
		}
		return uint32(perms) & 0o777, pid, nil
	}
	return 0, 0, unix.EIDRM
}
