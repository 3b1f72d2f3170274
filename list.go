package shmbuf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sysvTable is the kernel's list of System V segments, what ipcs -m reads.
// Unlike IPC_STAT it shows every segment, readable or not.
const sysvTable = "/proc/sysvipc/shm"

// shmDest is SHM_DEST, the mode bit of a System V segment marked for
// removal (x/sys has no constant for it).
const shmDest = 0o1000

// List describes every entry of ShmDir, then every System V segment, as
// ls and ipcs -m show them. Entries of ShmDir that are not regular files
// (a symbolic link, a directory) are described, never opened or followed;
// their Type says what they are. Entries removed while List runs are left
// out.
//
// Finding a segment's Kind opens it read-only for a moment; a System V
// segment is attached, which updates its last-attach time and pid. A
// segment this process may not read is listed with Kind "".
func List() ([]SegmentInfo, error) {
	list, err := listShmDir()
	if err != nil {
		return nil, err
	}
	sysv, err := listSysV()
	if err != nil {
		return nil, err
	}
	return append(list, sysv...), nil
}

func listShmDir() ([]SegmentInfo, error) {
	ents, err := os.ReadDir(ShmDir)
	if err != nil {
		return nil, wrapErr("list", ShmDir, nil, err)
	}
	list := make([]SegmentInfo, 0, len(ents))
	for _, de := range ents {
		a, err := PosixAddress(de.Name())
		if err != nil {
			continue // not a name shm_open could open
		}
		var st unix.Stat_t
		if err := unix.Lstat(a.Path(), &st); err != nil {
			continue // removed while listing
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			if info, err := statSegment(a); err == nil {
				list = append(list, *info)
			}
			continue
		}
		info := SegmentInfo{
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
			Owner:      userName(int(st.Uid)),
			Group:      groupName(int(st.Gid)),
			Type:       fileType(st.Mode),
		}
		if info.Type == "symlink" {
			info.Target, _ = os.Readlink(a.Path())
		}
		list = append(list, info)
	}
	return list, nil
}

// fileType names the type bits of a stat mode.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "other"
}

func listSysV() ([]SegmentInfo, error) {
	b, err := os.ReadFile(sysvTable)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // a kernel without System V IPC
	}
	if err != nil {
		return nil, wrapErr("list", sysvTable, nil, err)
	}
	return parseSysVTable(b)
}

// parseSysVTable reads /proc/sysvipc/shm by its header's column names, so
// that kernels that add columns still parse.
func parseSysVTable(b []byte) ([]SegmentInfo, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return nil, nil
	}
	cols := strings.Fields(sc.Text())
	var list []SegmentInfo
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		col := func(name string) (int64, bool) {
			i := slices.Index(cols, name)
			if i < 0 || i >= len(fields) {
				return 0, false
			}
			base := 10
			if name == "perms" {
				base = 8
			}
			n, err := strconv.ParseInt(fields[i], base, 64)
			return n, err == nil
		}
		num := func(name string) int64 { n, _ := col(name); return n }
		id, okID := col("shmid")
		perms, okPerms := col("perms")
		if !okID || !okPerms {
			return nil, wrapErr("list", sysvTable, nil, fmt.Errorf("unexpected line %q", sc.Text()))
		}
		a, err := SysVIDAddress(int(id))
		if err != nil {
			return nil, wrapErr("list", sysvTable, nil, fmt.Errorf("unexpected id in line %q", sc.Text()))
		}
		uid, gid := int(num("uid")), int(num("gid"))
		info := SegmentInfo{
			Addr:       a,
			Size:       num("size"),
			Mode:       os.FileMode(perms & 0o777),
			UID:        uid,
			GID:        gid,
			ModTime:    time.Unix(num("ctime"), 0),
			AccessTime: time.Unix(num("atime"), 0),
			ChangeTime: time.Unix(num("ctime"), 0),
			Attached:   int(num("nattch")),
			ID:         int(id),
			Key:        int32(uint32(num("key"))),
			CreatorPid: int(num("cpid")),
			LastPid:    int(num("lpid")),
			Owner:      userName(uid),
			Group:      groupName(gid),
			Removed:    perms&shmDest != 0,
		}
		info.Kind = kindOfSegment(a, &info)
		list = append(list, info)
	}
	if err := sc.Err(); err != nil {
		return nil, wrapErr("list", sysvTable, nil, err)
	}
	return list, nil
}

// userName is the name of uid, or its number when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// groupName is the name of gid, or its number when it has none.
func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}
