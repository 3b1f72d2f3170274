package bench

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pipeTransport is an anonymous pipe(2), enlarged with F_SETPIPE_SZ.
type pipeTransport struct {
	traits
	inheritedStream
}

func (pipeTransport) Create(env *Env, size int) (*Channel, error) { return newPipe(env) }

// newPipe makes a pipe whose ends the peers inherit.
func newPipe(env *Env) (*Channel, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	growPipe(p[1])
	return fdPair(env, "pipe", p[1], p[0]), nil
}

// growPipe asks for the largest pipe buffer an unprivileged process may
// set; failure leaves the default (64 KiB) in place.
func growPipe(fd int) {
	n := min(bufSize, readProcInt("/proc/sys/fs/pipe-max-size", 1<<20))
	unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, n)
}

// readProcInt reads a number from a /proc file, or returns def.
func readProcInt(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v <= 0 {
		return def
	}
	return v
}
