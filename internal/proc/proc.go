// Package proc tells whether a process recorded in shared memory is still
// the same live process. A pid alone is not enough, since the kernel reuses
// pids; the pair (pid, start time) is unique for the life of the machine.
package proc

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// Identity is a process as shmbuf records it in a segment.
type Identity struct {
	Pid   int32
	Start uint64 // start time in clock ticks since boot, /proc/PID/stat field 22
}

var (
	selfOnce sync.Once
	self     Identity
)

// Self returns the calling process's identity. It is read once and cached.
func Self() Identity {
	selfOnce.Do(func() {
		pid := os.Getpid()
		st, _ := StartTime(pid)
		self = Identity{Pid: int32(pid), Start: st}
	})
	return self
}

// StartTime reads the start time of pid from /proc/PID/stat. ok is false
// when the process does not exist (or its stat cannot be parsed).
func StartTime(pid int) (start uint64, ok bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
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

// Alive reports whether id names a process that is still running: its pid
// exists, is not a zombie, and started at the recorded time. An identity
// with Start 0 is checked by pid alone.
func Alive(id Identity) bool {
	st, ok := StartTime(int(id.Pid))
	if !ok {
		return false
	}
	return id.Start == 0 || st == id.Start
}
