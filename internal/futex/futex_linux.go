// Package futex waits on and wakes a 32-bit word that several processes
// share. It uses the plain (not FUTEX_PRIVATE) operations, because the
// waiters and wakers are in different processes mapping the same memory.
package futex

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Operation codes from linux/futex.h. x/sys/unix has none; the private
// variants (|128) would only work between threads of one process.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE
)

// Wait sleeps while *addr == val, for at most timeout (which must be
// positive). It returns when woken, when *addr != val at the time of the
// call (EAGAIN), on a signal (EINTR) or at the timeout; the caller always
// re-checks its condition, so all of these are the same to it and Wait
// returns only unexpected errors (EFAULT, EINVAL).
func Wait(addr *atomic.Uint32, val uint32, timeout time.Duration) error {
	ts := unix.NsecToTimespec(int64(timeout))
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait,
		uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		return nil
	}
	return e
}

// Wake wakes up to n processes waiting on addr and returns how many it
// woke.
func Wake(addr *atomic.Uint32, n int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake,
		uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// WakeAll wakes every waiter on addr.
func WakeAll(addr *atomic.Uint32) (int, error) { return Wake(addr, 1<<30) }

func syscallYield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
