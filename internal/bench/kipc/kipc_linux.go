// Package kipc wraps the kernel message-queue system calls that
// golang.org/x/sys/unix does not: POSIX mq_open/mq_timedsend/
// mq_timedreceive/mq_unlink and System V msgget/msgsnd/msgrcv/msgctl.
//
// Passing buffers to a raw system call needs unsafe.Pointer; this package
// is the only place in bench that uses it, and every function here is a
// thin wrapper with the system call's own semantics.
package kipc

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MqAttr is struct mq_attr.
type MqAttr struct {
	Flags    int64
	MaxMsg   int64
	MsgSize  int64
	CurMsgs  int64
	reserved [4]int64
}

// MqOpen is mq_open(2). name has no leading slash: the C library strips
// it before making the system call.
func MqOpen(name string, flags int, mode uint32, attr *MqAttr) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), uintptr(mode), uintptr(unsafe.Pointer(attr)), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// MqUnlink is mq_unlink(2).
func MqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// MqTimedSend is mq_timedsend(2) with priority 0; abs is a CLOCK_REALTIME
// deadline.
func MqTimedSend(fd int, msg []byte, abs *unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(msg))), uintptr(len(msg)), 0, uintptr(unsafe.Pointer(abs)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// MqTimedReceive is mq_timedreceive(2); buf must be at least the queue's
// message size.
func MqTimedReceive(fd int, buf []byte, abs *unix.Timespec) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, uintptr(unsafe.Pointer(abs)), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// MsgGet is msgget(2).
func MsgGet(key, flags int) (int, error) {
	id, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flags), 0)
	if e != 0 {
		return -1, e
	}
	return int(id), nil
}

// MsgSnd is msgsnd(2). msg is the whole struct msgbuf: an 8-byte message
// type (positive) followed by the text.
func MsgSnd(id int, msg []byte, flags int) error {
	_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(unsafe.SliceData(msg))), uintptr(len(msg)-8), uintptr(flags), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// MsgRcv is msgrcv(2) for any message type; buf holds the type and the
// text, and the text's length is returned.
func MsgRcv(id int, buf []byte, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)-8), 0, uintptr(flags), 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// MsgRemove is msgctl(id, IPC_RMID); blocked senders and receivers wake
// with EIDRM.
func MsgRemove(id int) error {
	if _, _, e := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(unix.IPC_RMID), 0); e != 0 {
		return e
	}
	return nil
}
