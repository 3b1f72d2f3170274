package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// bufSize is the kernel buffer the fd transports ask for: large enough
// that a writer running flat out is not throttled by a small default
// (pipes are capped by /proc/sys/fs/pipe-max-size, sockets by
// net.core.wmem_max and rmem_max).
const bufSize = 4 << 20

// fdSender writes each record with write(2) on a blocking descriptor,
// looping over short writes (streams may accept part of a record).
type fdSender struct {
	fd, size int
}

func (s *fdSender) Alloc() []byte { return make([]byte, s.size) }

func (s *fdSender) Send(p []byte) error { return writeFull(s.fd, p) }

// writeFull writes all of p, looping over short writes.
func writeFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (s *fdSender) Close() error { return unix.Close(s.fd) }

// streamReceiver reads a byte stream in large reads and hands out whole
// records from its buffer. The buffer is a whole number of records, so a
// record never wraps and nothing is ever moved within the buffer.
type streamReceiver struct {
	fd, size int
	buf      []byte
	r, w     int
}

func newStreamReceiver(fd, size int) *streamReceiver {
	n := max(1, (256<<10)/size)
	return &streamReceiver{fd: fd, size: size, buf: make([]byte, n*size)}
}

func (s *streamReceiver) Recv() ([]byte, error) {
	for {
		if rec := s.take(); rec != nil {
			return rec, nil
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// take returns the next whole record in the buffer, or nil.
func (s *streamReceiver) take() []byte {
	if s.w < s.r+s.size {
		return nil
	}
	rec := s.buf[s.r : s.r+s.size]
	s.r += s.size
	return rec
}

// fill reads once, as much as the buffer has room for; the buffer starts
// over when all of it has been taken.
func (s *streamReceiver) fill() error {
	if s.r == len(s.buf) {
		s.r, s.w = 0, 0
	}
	for {
		n, err := unix.Read(s.fd, s.buf[s.w:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			if s.w > s.r {
				return io.ErrUnexpectedEOF
			}
			return io.EOF
		}
		s.w += n
		return nil
	}
}

func (s *streamReceiver) Close() error { return unix.Close(s.fd) }

// packetReceiver reads one record per read(2), for transports that keep
// message boundaries; a packet of the wrong length is an error.
type packetReceiver struct {
	fd, size int
	buf      []byte
}

func (s *packetReceiver) Recv() ([]byte, error) {
	for {
		n, err := unix.Read(s.fd, s.buf)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, io.EOF
		}
		if n != s.size {
			return nil, fmt.Errorf("packet of %d bytes, want %d", n, s.size)
		}
		return s.buf[:n], nil
	}
}

func (s *packetReceiver) Close() error { return unix.Close(s.fd) }

// inheritedStream opens the ends of a byte stream whose descriptors the
// peers inherit (a pipe, a socket pair, a TCP connection): one write(2)
// per record, and large reads split into records.
type inheritedStream struct{}

func (inheritedStream) Sender(spec ChannelSpec, size int, _ time.Time) (Sender, error) {
	fd, err := inheritedFD(spec)
	if err != nil {
		return nil, err
	}
	return &fdSender{fd: fd, size: size}, nil
}

func (inheritedStream) Receiver(spec ChannelSpec, size int, _ time.Time) (Receiver, error) {
	fd, err := inheritedFD(spec)
	if err != nil {
		return nil, err
	}
	return newStreamReceiver(fd, size), nil
}

// inheritedFD checks the descriptor a peer was given.
func inheritedFD(spec ChannelSpec) (int, error) {
	if spec.FD < 3 {
		return -1, errors.New("no descriptor inherited for this channel")
	}
	return spec.FD, nil
}

// fdPair wraps a pair of descriptors as the files the peers inherit, and
// closes the coordinator's copies when the channel is removed.
func fdPair(env *Env, what string, w, r int) *Channel {
	ch := &Channel{
		Spec:       ChannelSpec{FD: -1},
		WriterFile: os.NewFile(uintptr(w), what+"-w"),
		ReaderFile: os.NewFile(uintptr(r), what+"-r"),
	}
	return env.own(what, ch, func() error {
		return errors.Join(ch.WriterFile.Close(), ch.ReaderFile.Close())
	})
}
