package shmbuf

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
	"golang.org/x/sys/unix"
)

// Usage tells who uses a segment, for `shmbuf ls` and `shmbuf rm --stale`.
type Usage struct {
	// Kind is the segment's kind ("" for a segment shmbuf did not format).
	Kind string
	// Recorded are the processes the segment itself records: the creator,
	// a snapshot's last writer, a ring's writers and readers.
	Recorded []RecordedProcess
	// Locked is true when a process, in any pid namespace, holds one of a
	// file-backed segment's liveness locks: it has the ring or snapshot
	// open, holds a ring slot or the snapshot writer lock.
	Locked bool
	// Users are live processes other than this one that have the segment
	// mapped or open (posix and file backends, from this pid namespace's
	// /proc).
	Users []int
	// Attached is a System V segment's attach count, not counting this
	// process's own attachments; -1 for files.
	Attached int
}

// RecordedProcess is a process a segment records, with its role.
type RecordedProcess struct {
	Role string // "creator", "writer", "reader"
	Pid  int    // in the process's own pid namespace
	// Alive is false only on proof of death: a ring slot whose lock is
	// free (file-backed), or a process of this pid namespace that is
	// gone. A process of another pid namespace counts as alive.
	Alive bool
}

// Stale reports whether the segment is stale: a formatted shmbuf segment
// (snapshot or ring) whose recorded processes are all proven dead, whose
// liveness locks nobody holds, and that no live process has mapped, open
// or attached. Raw segments record no process, and segments shmbuf did
// not format are someone else's: neither is ever stale.
func (u *Usage) Stale() bool {
	if u.Kind != "snapshot" && u.Kind != "ring" {
		return false
	}
	if u.Locked || len(u.Users) > 0 || u.Attached > 0 {
		return false
	}
	for _, p := range u.Recorded {
		if p.Alive {
			return false
		}
	}
	return true
}

// SegmentUsage inspects the segment at a: its kind, recorded processes
// and live users. It maps the segment only briefly, read-only where it
// can, takes none of its locks, and does not count itself as a user.
func SegmentUsage(a Address) (*Usage, error) {
	info, err := StatSegment(a)
	if err != nil {
		return nil, err
	}
	u := &Usage{Kind: info.Kind, Attached: -1}
	switch info.Kind {
	case "snapshot":
		seg, err := OpenSegment(a, true)
		if err != nil {
			return nil, err
		}
		s, err := newSnapshot(seg, false)
		if err != nil {
			return nil, err
		}
		pid, alive, _ := s.Creator()
		u.Recorded = append(u.Recorded, RecordedProcess{"creator", pid, alive})
		if pid, alive := s.LastWriter(); pid != 0 {
			u.Recorded = append(u.Recorded, RecordedProcess{"writer", pid, alive})
		}
		u.Locked = lockHeld(s.lf, layout.LockUsers) || lockHeld(s.lf, layout.LockSnapshotWriter)
		s.Close()
	case "ring":
		seg, err := OpenSegment(a, false)
		if err != nil {
			return nil, err
		}
		r, err := newRing(seg, false)
		if err != nil {
			return nil, err
		}
		pid, alive := headerCreator(r.seg.data)
		u.Recorded = append(u.Recorded, RecordedProcess{"creator", pid, alive})
		u.Locked = lockHeld(r.lf, layout.LockUsers)
		st, err := r.Stat()
		r.Close()
		if err != nil {
			return nil, err
		}
		for _, p := range st.Writers {
			u.Recorded = append(u.Recorded, RecordedProcess{"writer", p.Pid, p.Alive})
		}
		for _, p := range st.Readers {
			u.Recorded = append(u.Recorded, RecordedProcess{"reader", p.Pid, p.Alive})
		}
	}
	if a.Backend == SysV {
		// Stat again: the kind checks above attached and detached.
		if info, err = StatSegment(a); err != nil {
			return nil, err
		}
		u.Attached = info.Attached
		return u, nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(a.Path, &st); err != nil {
		return nil, fileErr("stat", a, err)
	}
	u.Users = fileUsers(a.Path, st.Dev, st.Ino)
	return u, nil
}

// lockHeld reports whether another description than f's holds a lock on
// byte off of a file-backed segment, or the kernel cannot say (then the
// segment counts as in use). It is false on System V (f nil).
func lockHeld(f *os.File, off int64) bool {
	if f == nil {
		return false
	}
	held, ok := ofdHeld(f, off)
	return held || !ok
}

// headerCreator reads the creator recorded in a validated header.
func headerCreator(data []byte) (pid int, alive bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			faultErr(r, "stat", "")
			pid, alive = 0, false
		}
	}()
	h, err := layout.HeaderOf(data)
	if err != nil {
		return 0, false
	}
	id := proc.Identity{Pid: h.CreatorPid, Start: h.CreatorStart, NS: h.CreatorNS}
	return int(id.Pid), proc.Alive(id)
}

// fileUsers scans /proc for live processes other than this one that map
// or hold open the file (dev, ino). Processes whose /proc entries this
// process may not read are missed, which only makes Stale more cautious
// for root (who reads them all) than for others.
func fileUsers(path string, dev, ino uint64) []int {
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var users []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if mapsFile(pid, path, ino) || holdsFile(pid, dev, ino) {
			users = append(users, pid)
		}
	}
	slices.Sort(users)
	return users
}

// mapsFile reports whether /proc/PID/maps has a mapping of the file.
func mapsFile(pid int, path string, ino uint64) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return false
	}
	defer f.Close()
	inoStr := []byte(strconv.FormatUint(ino, 10))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) >= 6 && bytes.Equal(fields[4], inoStr) && bytes.HasPrefix(fields[5], []byte(path)) {
			return true
		}
	}
	return false
}

// holdsFile reports whether PID has a descriptor open on (dev, ino).
func holdsFile(pid int, dev, ino uint64) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, fd.Name()), &st) == nil && st.Dev == dev && st.Ino == ino {
			return true
		}
	}
	return false
}
