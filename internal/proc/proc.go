// Package proc tells whether a process recorded in shared memory is still
// the same live process. A pid alone is not enough, since the kernel reuses
// pids; the pair (pid, start time) is unique for the life of the machine,
// but only inside one pid namespace: a process in a container has another
// pid there than on the host, and /proc of one namespace does not show the
// other's pids. So every identity also records its pid namespace, and a
// process is judged by pid only when its namespace is ours. For any other
// process the answer is "cannot tell", which callers must treat as alive.
package proc

import (
	"bytes"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Identity is a process as shmbuf records it in a segment.
type Identity struct {
	Pid   int32
	Start uint64 // start time in clock ticks since boot, /proc/PID/stat field 22
	// NS is the inode number of the process's pid namespace
	// (/proc/self/ns/pid), a 32-bit number; 0 means unknown.
	NS uint32
}

var (
	selfOnce sync.Once
	self     Identity
	// judge is true when this process may judge peers of its own pid
	// namespace by pid: it knows its namespace, and the /proc it sees is
	// that namespace's (/proc/self names our own pid). A process in a new
	// pid namespace that kept the parent's /proc mount sees other pids
	// there and judges nobody.
	judge bool
)

// Self returns the calling process's identity. It is read once and cached.
func Self() Identity {
	selfOnce.Do(func() {
		pid := os.Getpid()
		self = Identity{Pid: int32(pid)}
		// /proc/self, not /proc/PID: it is this process whatever
		// namespace the /proc mount belongs to.
		if st, ok := startTime("/proc/self/stat"); ok {
			self.Start = st
		}
		self.NS = namespaceOf("/proc/self/ns/pid")
		link, err := os.Readlink("/proc/self")
		judge = self.NS != 0 && self.Start != 0 && err == nil && link == strconv.Itoa(pid)
	})
	return self
}

// namespaceOf returns the inode of the namespace file at path, 0 when it
// cannot be read.
func namespaceOf(path string) uint32 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Ino > 1<<32-1 {
		return 0
	}
	return uint32(st.Ino)
}

// StartTime reads the start time of pid from /proc/PID/stat. ok is false
// when the process does not exist (or its stat cannot be parsed). pid is
// taken in the namespace of this process's /proc mount.
func StartTime(pid int) (start uint64, ok bool) {
	if pid <= 0 {
		return 0, false
	}
	return startTime("/proc/" + strconv.Itoa(pid) + "/stat")
}

func startTime(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// or parentheses, so parse from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); start time is field 22.
	const startField = 22 - 3
	if len(fields) <= startField {
		return 0, false
	}
	if len(fields[0]) == 1 && (fields[0][0] == 'Z' || fields[0][0] == 'X') {
		return 0, false // a zombie has finished: it will never write again
	}
	v, err := strconv.ParseUint(string(fields[startField]), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// Judgeable reports whether id can be judged by pid from this process:
// it records our pid namespace and we see that namespace's /proc.
func Judgeable(id Identity) bool {
	me := Self()
	return judge && id.NS == me.NS
}

// Alive reports whether id may still be running. It is false only on
// proof of death: id is of our pid namespace (Judgeable) and its pid does
// not exist, is a zombie, or started at another time than recorded. An
// identity of another namespace, or of an unknown one, is alive: this
// process cannot tell. A Start of 0 (not recorded) is checked by pid
// alone.
func Alive(id Identity) bool {
	if !Judgeable(id) {
		return true
	}
	st, ok := StartTime(int(id.Pid))
	if !ok {
		return false
	}
	return id.Start == 0 || st == id.Start
}
