package bench

import (
	"fmt"
	"time"

	"github.com/shmbuf/shmbuf/internal/bench/kipc"
	"golang.org/x/sys/unix"
)

// posixMQTransport is a POSIX message queue (mq_open, mq_timedsend,
// mq_timedreceive through raw system calls; /dev/mqueue need not be
// mounted). The queue is created with the limits an unprivileged user
// gets: /proc/sys/fs/mqueue/msg_max messages of at most msgsize_max bytes.
type posixMQTransport struct{ traits }

const (
	mqMsgSizeMax = "/proc/sys/fs/mqueue/msgsize_max"
	mqMsgMax     = "/proc/sys/fs/mqueue/msg_max"
)

func (posixMQTransport) Unsupported(size int) string {
	if limit := readProcInt(mqMsgSizeMax, 8192); size > limit {
		return fmt.Sprintf("above %s (%d bytes)", mqMsgSizeMax, limit)
	}
	return ""
}

func (posixMQTransport) Create(env *Env, size int) (*Channel, error) {
	name := env.Name()
	attr := kipc.MqAttr{MaxMsg: int64(readProcInt(mqMsgMax, 10)), MsgSize: int64(size)}
	fd, err := kipc.MqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, &attr)
	if err != nil {
		return nil, fmt.Errorf("mq_open %s: %w", name, err)
	}
	unix.Close(fd)
	ch := &Channel{Spec: ChannelSpec{Addr: name, FD: -1}}
	return env.own("mq "+name, ch, func() error { return kipc.MqUnlink(name) }), nil
}

// mqEnd is either end of a queue. The timeout is the peer's deadline, so
// a peer whose partner died does not wait forever.
type mqEnd struct {
	fd       int
	size     int
	buf      []byte
	deadline unix.Timespec
}

func openMQ(spec ChannelSpec, size int, deadline time.Time, flags int) (*mqEnd, error) {
	fd, err := kipc.MqOpen(spec.Addr, flags, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("mq_open %s: %w", spec.Addr, err)
	}
	return &mqEnd{fd: fd, size: size, buf: make([]byte, size), deadline: unix.NsecToTimespec(deadline.UnixNano())}, nil
}

func (posixMQTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	return openMQ(spec, size, deadline, unix.O_WRONLY)
}

func (posixMQTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	return openMQ(spec, size, deadline, unix.O_RDONLY)
}

func (e *mqEnd) Alloc() []byte { return make([]byte, e.size) }

func (e *mqEnd) Send(rec []byte) error {
	for {
		err := kipc.MqTimedSend(e.fd, rec, &e.deadline)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

func (e *mqEnd) Recv() ([]byte, error) {
	for {
		n, err := kipc.MqTimedReceive(e.fd, e.buf, &e.deadline)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return e.buf[:n], nil
	}
}

func (e *mqEnd) Close() error { return unix.Close(e.fd) }
