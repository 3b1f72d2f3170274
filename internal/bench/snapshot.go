package bench

import (
	"encoding/binary"
	"errors"
	"runtime"
	"time"

	"github.com/shmbuf/shmbuf"
)

// snapshotTransport is shmbuf's Snapshot kind: a latest-value segment.
// Publish never waits for readers, so a reader polling Generation misses
// values the writer replaced before it looked; sequence numbers must
// strictly increase and the gaps are counted as lost.
type snapshotTransport struct{ traits }

func (snapshotTransport) Create(env *Env, size int) (*Channel, error) {
	name := env.Name()
	s, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: int64(size)})
	if err != nil {
		return nil, err
	}
	s.Close()
	ch := &Channel{Spec: ChannelSpec{Addr: name, FD: -1}}
	return env.own("segment "+name, ch, func() error { return shmbuf.Remove(name) }), nil
}

type snapshotEnd struct {
	s        *shmbuf.Snapshot
	size     int
	buf      []byte
	gen      uint64
	last     uint64 // sequence number of the value Recv returned last
	deadline time.Time
}

func openSnapshot(spec ChannelSpec, size int, deadline time.Time) (*snapshotEnd, error) {
	s, err := shmbuf.OpenSnapshot(spec.Addr)
	if err != nil {
		return nil, err
	}
	return &snapshotEnd{s: s, size: size, buf: make([]byte, 0, size), deadline: deadline}, nil
}

func (snapshotTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	return openSnapshot(spec, size, deadline)
}

func (snapshotTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	return openSnapshot(spec, size, deadline)
}

func (e *snapshotEnd) Alloc() []byte { return make([]byte, e.size) }

func (e *snapshotEnd) Send(rec []byte) error { return e.s.Publish(rec) }

// Recv spins on the generation counter until it moves, then loads the
// value. It yields the processor now and then, so on a busy machine the
// writer gets to run.
func (e *snapshotEnd) Recv() ([]byte, error) {
	for n := 1; ; n++ {
		if g := e.s.Generation(); g != e.gen {
			v, _, err := e.s.Load(e.buf)
			if err != nil {
				return nil, err
			}
			e.gen = g
			e.buf = v
			// Load returns the newest value, which may be newer than
			// generation g; the next poll then sees g move again and
			// loads the same value, which is skipped here.
			if len(v) < 8 {
				return v, nil // the check reports the short record
			}
			if seq := binary.LittleEndian.Uint64(v); seq != e.last {
				e.last = seq
				return v, nil
			}
		}
		if n%64 == 0 {
			runtime.Gosched()
			if n%4096 == 0 && time.Now().After(e.deadline) {
				return nil, errors.New("no new value before the deadline")
			}
		}
	}
}

func (e *snapshotEnd) Close() error { return e.s.Close() }
