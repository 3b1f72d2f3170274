package shmbuf

import (
	"os"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
	"golang.org/x/sys/unix"
)

// A segment that holds a value or records is data, like a file: it is
// stale (abandoned, `shmbuf rm --stale` removes it) only when shmbuf made
// it, nobody uses it, and nobody has written it for a while. Processes
// that exited after writing leave data, not garbage.

// Usage tells who uses a segment and when it was last written: what a
// program needs to tell a segment an earlier run abandoned (Stale) from
// one that is still someone's data. `shmbuf ls` and `shmbuf rm --stale`
// show and act on it. Usages returns it.
type Usage struct {
	// Kind is the segment's kind (KindUnknown for a segment shmbuf did
	// not make).
	Kind Kind
	// Recorded are the processes the segment itself records: the creator,
	// a snapshot's last writer, a ring's writers and readers.
	Recorded []RecordedProcess
	// Locked is true when a process, in any pid namespace, holds one of a
	// file-backed segment's liveness locks (it has the raw segment, ring
	// or snapshot open, holds a ring slot or the snapshot writer lock),
	// or when the kernel cannot say.
	Locked bool
	// Users are live processes other than this one that have the segment
	// mapped or open (posix and file backends, from this pid namespace's
	// /proc).
	Users []int
	// Attached is a System V segment's attach count, not counting this
	// process's own attachments; -1 for files.
	Attached int
	// LastWrite is when the segment was last written, as far as it tells:
	//
	//   - a raw segment, or a file shmbuf did not make: the file's
	//     modification time, which write(2) and shmbuf's stores update
	//     (a program that stores through its own mapping updates it only
	//     at its first store to each page);
	//   - a snapshot or ring: the time its writers record in the segment
	//     (a snapshot at every Publish; a ring at a writer's first
	//     record, every 256 records after, and when the writer closes),
	//     or, when newer, the file's modification time (the creation,
	//     for a segment never written); on System V, which keeps no
	//     write time, the creation time recorded in the header until the
	//     first write.
	//
	// It is zero for a System V segment shmbuf did not format.
	LastWrite time.Time
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

// InUse reports whether anyone may be using the segment: a process it
// records is alive, a liveness lock is held (in any pid namespace), a
// live process of this pid namespace maps it or holds it open, or a
// process has a System V segment attached.
func (u *Usage) InUse() bool {
	if u.Locked || len(u.Users) > 0 || u.Attached > 0 {
		return true
	}
	for _, p := range u.Recorded {
		if p.Alive {
			return true
		}
	}
	return false
}

// Stale reports whether the segment is abandoned: shmbuf made it (a raw
// segment, a snapshot or a ring; never a segment of another program,
// which only its own program can judge), nobody uses it (InUse), and it
// was last written at least olderThan ago (LastWrite; a write time in the
// future counts as now).
func (u *Usage) Stale(olderThan time.Duration) bool {
	if u.Kind == KindUnknown || u.InUse() || u.LastWrite.IsZero() {
		return false
	}
	return time.Since(u.LastWrite) >= olderThan
}

// Usages inspects each segment of list (as List or Stat return them):
// its kind, recorded processes, live users and last write. It reads /proc
// once for all of them, maps each segment only briefly, read-only where
// it can, takes none of its locks, and does not count itself as a user.
// An entry is nil where list's is not a segment (Type other than "file")
// or could not be inspected (removed meanwhile, unreadable, of another
// format version).
//
// A look at /proc is one instant, and another inspector (a concurrent
// `shmbuf ls`, `stat` or `rm --stale`, which maps each segment for a
// moment) would count as a user in it: a segment whose only sign of use
// is such a process is looked at again (userSettle), and only processes
// seen every time count as users.
func Usages(list []SegmentInfo) []*Usage {
	inos := map[uint64]bool{}
	for _, info := range list {
		if info.Addr.Backend() != SysV && info.Type == "file" {
			var st unix.Stat_t
			if unix.Lstat(info.Addr.Path(), &st) == nil {
				inos[st.Ino] = true
			}
		}
	}
	files := scanProc(func(ino uint64) bool { return inos[ino] })
	out := make([]*Usage, len(list))
	for i, info := range list {
		if info.Addr.Backend() != SysV && info.Type != "file" {
			continue
		}
		if u, err := usageOf(info.Addr, info.Kind, files); err == nil {
			out[i] = u
		}
	}
	settleUsers(list, out)
	return out
}

// userSettle is how many more times, and how far apart, Usages looks at
// /proc for a segment that only a process seen there uses: a user keeps
// its mapping for as long as it uses the segment, an inspector drops it
// within microseconds.
const (
	userLooks  = 2
	userSettle = 15 * time.Millisecond
)

// settleUsers looks at /proc again for the segments whose only sign of
// use is Users, and keeps the processes seen each time.
func settleUsers(list []SegmentInfo, out []*Usage) {
	// The segments to look at again, stat'd once: a file replaced
	// meanwhile is another segment, which the next Usages judges.
	type suspect struct {
		u    *Usage
		path string
		st   unix.Stat_t
	}
	var sus []suspect
	for i, u := range out {
		if u != nil && len(u.Users) > 0 && onlyUsers(u) {
			s := suspect{u: u, path: list[i].Addr.Path()}
			if unix.Lstat(s.path, &s.st) == nil {
				sus = append(sus, s)
			}
		}
	}
	for look := 0; look < userLooks && len(sus) > 0; look++ {
		inos := map[uint64]bool{}
		for _, s := range sus {
			inos[s.st.Ino] = true
		}
		time.Sleep(userSettle)
		files := scanProc(func(ino uint64) bool { return inos[ino] })
		sus = slices.DeleteFunc(sus, func(s suspect) bool {
			again := files.users(s.path, s.st.Dev, s.st.Ino)
			s.u.Users = slices.DeleteFunc(s.u.Users, func(pid int) bool { return !slices.Contains(again, pid) })
			return len(s.u.Users) == 0
		})
	}
}

// onlyUsers reports whether Users is u's only sign of use.
func onlyUsers(u *Usage) bool {
	if u.Locked || u.Attached > 0 {
		return false
	}
	for _, p := range u.Recorded {
		if p.Alive {
			return false
		}
	}
	return true
}

// usageOf inspects the segment at a, of kind, with files the processes
// that map or hold open files (nil for System V).
func usageOf(a Address, kind Kind, files *procFiles) (*Usage, error) {
	u := &Usage{Kind: kind, Attached: -1}
	var recorded, created time.Time
	switch kind {
	case KindSnapshot:
		seg, err := openSegment(a, true)
		if err != nil {
			return nil, err
		}
		s, err := newSnapshot(seg, false)
		if err != nil {
			return nil, err
		}
		pid, alive, at := s.Creator()
		if at.UnixNano() > 0 {
			created = at
		}
		u.Recorded = append(u.Recorded, RecordedProcess{"creator", pid, alive})
		if pid, alive := s.lastWriter(); pid != 0 {
			u.Recorded = append(u.Recorded, RecordedProcess{"writer", pid, alive})
		}
		u.Locked = lockHeld(s.lf, layout.LockUsers) || lockHeld(s.lf, layout.LockSnapshotWriter)
		recorded = recordedWrite(&s.l.Ctl.LastWrite)
		s.Close()
	case KindRing:
		seg, err := openSegment(a, false)
		if err != nil {
			return nil, err
		}
		r, err := newRing(seg, false)
		if err != nil {
			return nil, err
		}
		pid, alive, at := headerCreator(r.seg.data)
		created = at
		u.Recorded = append(u.Recorded, RecordedProcess{"creator", pid, alive})
		u.Locked = lockHeld(r.lf, layout.LockUsers)
		recorded = recordedWrite(&r.l.Ctl.LastWrite)
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
	if a.Backend() == SysV {
		// Stat again: the kind checks above attached and detached.
		info, err := statSegment(a)
		if err != nil {
			return nil, err
		}
		u.Attached = info.Attached
		u.LastWrite = recorded
		if recorded.IsZero() {
			u.LastWrite = created // never written, or by a writer that does not record
		}
		return u, nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(a.Path(), &st); err != nil {
		return nil, sysErr(onFile, "stat", a, err)
	}
	u.LastWrite = newest(recorded, time.Unix(st.Mtim.Unix()))
	u.Users = files.users(a.Path(), st.Dev, st.Ino)
	if kind == KindRaw {
		u.Locked = rawLocked(a)
	}
	return u, nil
}

// newest is the later of two times.
func newest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rawLocked reports whether a process holds the users' lock of the raw
// file at a (an open Raw, in any pid namespace), or the kernel cannot say
// (then it counts as in use).
func rawLocked(a Address) bool {
	fd, err := unix.Open(a.Path(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	f := os.NewFile(uintptr(fd), a.Path())
	defer f.Close()
	return lockHeld(f, layout.LockUsers)
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

// recordedWrite reads a last-write word of a mapped segment: the zero
// time when none is recorded or the mapping is gone.
func recordedWrite(w *atomic.Int64) (t time.Time) {
	// A fault leaves t zero.
	defer faultGuard(nil, "stat", "", nil, nil, debug.SetPanicOnFault(true))
	if ns := w.Load(); ns > 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// headerCreator reads the creator recorded in a validated header, and the
// creation time.
func headerCreator(data []byte) (pid int, alive bool, created time.Time) {
	// A fault leaves the results zero: they are assigned only by the
	// returns.
	defer faultGuard(nil, "stat", "", nil, nil, debug.SetPanicOnFault(true))
	h, err := layout.HeaderOf(data)
	if err != nil {
		return 0, false, time.Time{}
	}
	id := proc.Identity{Pid: h.CreatorPid, Start: h.CreatorStart, NS: h.CreatorNS}
	var at time.Time
	if h.CreatedNanos > 0 {
		at = time.Unix(0, h.CreatedNanos)
	}
	return int(id.Pid), proc.Alive(id), at
}
