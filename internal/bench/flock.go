package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// flockTransport is the exercise's own design: the writer rewrites a file
// in /dev/shm under an exclusive flock, the reader rereads it under a
// shared one. It holds one value, not a stream, so a reader that polls
// less often than the writer writes misses values: the latest-value
// semantics the design has. The reader polls (nothing tells it a new value
// is there), reading the 8-byte sequence number first and the rest only
// when it changed. Sequence numbers must strictly increase; gaps are
// counted as lost.
type flockTransport struct{ traits }

func (flockTransport) Create(env *Env, size int) (*Channel, error) {
	path := filepath.Join("/dev/shm", env.Name())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	ch := &Channel{Spec: ChannelSpec{Addr: path, FD: -1}}
	env.own("file "+path, ch, func() error { return os.Remove(path) })
	err = f.Truncate(int64(size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, errors.Join(err, ch.remove())
	}
	return ch, nil
}

type flockEnd struct {
	fd, size int
	buf      []byte
	last     uint64
	deadline time.Time
}

func openFlock(spec ChannelSpec, size int, deadline time.Time, mode int) (*flockEnd, error) {
	fd, err := unix.Open(spec.Addr, mode|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: spec.Addr, Err: err}
	}
	return &flockEnd{fd: fd, size: size, buf: make([]byte, size), deadline: deadline}, nil
}

func (flockTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	return openFlock(spec, size, deadline, unix.O_RDWR)
}

func (flockTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	return openFlock(spec, size, deadline, unix.O_RDONLY)
}

func (e *flockEnd) Alloc() []byte { return make([]byte, e.size) }

func lock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

func (e *flockEnd) Send(rec []byte) error {
	if err := lock(e.fd, unix.LOCK_EX); err != nil {
		return err
	}
	_, err := unix.Pwrite(e.fd, rec, 0)
	if uerr := lock(e.fd, unix.LOCK_UN); err == nil {
		err = uerr
	}
	return err
}

// Recv polls until the file holds a value it has not returned yet.
func (e *flockEnd) Recv() ([]byte, error) {
	for n := 1; ; n++ {
		if err := lock(e.fd, unix.LOCK_SH); err != nil {
			return nil, err
		}
		got, err := preadFull(e.fd, e.buf[:8], 0)
		if err == nil && got == 8 {
			if seq := binary.LittleEndian.Uint64(e.buf); seq != 0 && seq != e.last {
				got, err = preadFull(e.fd, e.buf, 0)
				if err == nil && got != e.size {
					err = fmt.Errorf("file holds %d bytes, want %d", got, e.size)
				}
				if uerr := lock(e.fd, unix.LOCK_UN); err == nil {
					err = uerr
				}
				if err != nil {
					return nil, err
				}
				e.last = seq
				return e.buf, nil
			}
		}
		if uerr := lock(e.fd, unix.LOCK_UN); err == nil {
			err = uerr
		}
		if err != nil {
			return nil, err
		}
		if n%1024 == 0 && time.Now().After(e.deadline) {
			return nil, errors.New("no new value before the deadline")
		}
	}
}

func preadFull(fd int, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func (e *flockEnd) Close() error { return unix.Close(e.fd) }
