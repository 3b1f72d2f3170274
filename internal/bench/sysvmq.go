package bench

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shmbuf/shmbuf/internal/bench/kipc"
	"golang.org/x/sys/unix"
)

// sysvMQTransport is a System V message queue (msgget, msgsnd, msgrcv)
// with the system's default limits: messages of at most
// /proc/sys/kernel/msgmax bytes, a queue of msgmnb bytes.
type sysvMQTransport struct{ traits }

const msgMax = "/proc/sys/kernel/msgmax"

func (sysvMQTransport) Unsupported(size int) string {
	if limit := readProcInt(msgMax, 8192); size > limit {
		return fmt.Sprintf("above %s (%d bytes)", msgMax, limit)
	}
	return ""
}

func (sysvMQTransport) Create(env *Env, size int) (*Channel, error) {
	id, err := kipc.MsgGet(unix.IPC_PRIVATE, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		return nil, fmt.Errorf("msgget: %w", err)
	}
	ch := &Channel{Spec: ChannelSpec{Addr: strconv.Itoa(id), FD: -1}}
	return env.own("msqid "+strconv.Itoa(id), ch, func() error { return kipc.MsgRemove(id) }), nil
}

// msgEnd is either end of a System V queue. msgsnd and msgrcv take the
// message type in the 8 bytes before the text, so the sender's buffers
// keep that room in front of the record (own) and a record from elsewhere
// is copied into a spare buffer first.
type msgEnd struct {
	id, size int
	own      map[*byte][]byte
	spare    []byte
	deadline time.Time
}

func openMsg(spec ChannelSpec, size int, deadline time.Time) (*msgEnd, error) {
	id, err := strconv.Atoi(spec.Addr)
	if err != nil {
		return nil, fmt.Errorf("bad queue id %q", spec.Addr)
	}
	e := &msgEnd{id: id, size: size, own: map[*byte][]byte{}, deadline: deadline}
	e.spare = e.newMsg()
	return e, nil
}

func (sysvMQTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	return openMsg(spec, size, deadline)
}

func (sysvMQTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	return openMsg(spec, size, deadline)
}

func (e *msgEnd) newMsg() []byte {
	m := make([]byte, 8+e.size)
	m[0] = 1 // message type 1 (little-endian long)
	return m
}

func (e *msgEnd) Alloc() []byte {
	m := e.newMsg()
	e.own[&m[8]] = m
	return m[8:]
}

// Send blocks while the queue is full. msgsnd is never restarted after a
// signal (Go's runtime sends itself some), hence the loop on EINTR.
func (e *msgEnd) Send(rec []byte) error {
	m, ok := e.own[&rec[0]]
	if !ok || len(rec) != e.size {
		m = e.spare[:8+len(rec)]
		copy(m[8:], rec)
	}
	for n := 0; ; n++ {
		err := kipc.MsgSnd(e.id, m, 0)
		if err != unix.EINTR {
			return err
		}
		if n&1023 == 1023 && time.Now().After(e.deadline) {
			return fmt.Errorf("msgsnd: deadline passed")
		}
	}
}

func (e *msgEnd) Recv() ([]byte, error) {
	for n := 0; ; n++ {
		got, err := kipc.MsgRcv(e.id, e.spare, 0)
		if err == unix.EINTR {
			if n&1023 == 1023 && time.Now().After(e.deadline) {
				return nil, fmt.Errorf("msgrcv: deadline passed")
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return e.spare[8 : 8+got], nil
	}
}

func (e *msgEnd) Close() error { return nil }
