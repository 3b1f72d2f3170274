package bench

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// unixTransport is a connected pair of Unix-domain sockets, stream or
// seqpacket (which keeps record boundaries). The pair comes from
// socketpair(2): a connected pair made by bind/listen/connect behaves the
// same once connected, and leaves no socket file to clean up.
type unixTransport struct {
	traits
	inheritedStream
	seqpacket bool
}

// Unsupported: a seqpacket record must fit the send buffer in one piece.
func (t unixTransport) Unsupported(size int) string {
	if !t.seqpacket {
		return ""
	}
	if limit := seqpacketLimit(); size > limit {
		return fmt.Sprintf("above the seqpacket limit of %d bytes (send buffer, net.core.wmem_max)", limit)
	}
	return ""
}

func (t unixTransport) Create(env *Env, size int) (*Channel, error) {
	typ := unix.SOCK_STREAM
	if t.seqpacket {
		typ = unix.SOCK_SEQPACKET
	}
	p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for _, fd := range p {
		growSocket(fd)
	}
	return fdPair(env, t.Name(), p[0], p[1]), nil
}

// Receiver of a seqpacket socket reads one record per read(2).
func (t unixTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	if !t.seqpacket {
		return t.inheritedStream.Receiver(spec, size, deadline)
	}
	fd, err := inheritedFD(spec)
	if err != nil {
		return nil, err
	}
	return &packetReceiver{fd: fd, size: size, buf: make([]byte, size+1)}, nil
}

// tcpTransport is a TCP connection over 127.0.0.1 with Nagle's algorithm
// off, so a small record is sent at once.
type tcpTransport struct {
	traits
	inheritedStream
}

func (tcpTransport) Create(env *Env, size int) (*Channel, error) {
	w, r, err := tcpPair()
	if err != nil {
		return nil, err
	}
	return fdPair(env, "tcp-loopback", w, r), nil
}

// tcpPair listens on an ephemeral port of 127.0.0.1, connects to it and
// accepts; the listener is closed at once.
func tcpPair() (w, r int, err error) {
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, err
	}
	if err := unix.Listen(l, 1); err != nil {
		return -1, -1, err
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		return -1, -1, err
	}
	w, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	growSocket(w)
	if err := unix.Connect(w, sa); err != nil {
		unix.Close(w)
		return -1, -1, err
	}
	r, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(w)
		return -1, -1, err
	}
	growSocket(r)
	for _, fd := range []int{w, r} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			unix.Close(w)
			unix.Close(r)
			return -1, -1, errors.Join(errors.New("TCP_NODELAY"), err)
		}
	}
	return w, r, nil
}

// growSocket asks for large buffers; the kernel caps them at
// net.core.wmem_max and rmem_max (and doubles the value for bookkeeping).
func growSocket(fd int) {
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufSize)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufSize)
}

// seqpacketLimit is the largest record a Unix seqpacket socket with the
// buffer growSocket asks for accepts in one send: the kernel refuses
// anything above the send buffer (twice the granted SO_SNDBUF) minus a
// small overhead with EMSGSIZE.
func seqpacketLimit() int {
	granted := min(bufSize, readProcInt("/proc/sys/net/core/wmem_max", 212992))
	return 2*granted - 64
}
