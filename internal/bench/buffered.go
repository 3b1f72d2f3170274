package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// bufferedPipeTransport is a pipe used the way a program that moves many
// small records through one would use it: 64 KiB bufio on both sides, so
// the writer makes one write(2) per 64 KiB of records and the reader one
// read(2) per 64 KiB. Each record is framed by a 4-byte length, as a
// stream of records of any size must be; the reader checks the frame and
// copies the record out, and the harness verifies every byte of it.
// It is the honest comparison for bulk small records, where batching is
// what a pipe's user does.
type bufferedPipeTransport struct{ traits }

// bufioSize is the buffer on each side.
const bufioSize = 64 << 10

func (bufferedPipeTransport) Create(env *Env, size int) (*Channel, error) { return newPipe(env) }

func (bufferedPipeTransport) Sender(spec ChannelSpec, size int, _ time.Time) (Sender, error) {
	fd, err := inheritedFD(spec)
	if err != nil {
		return nil, err
	}
	return &bufferedSender{fd: fd, size: size, w: bufio.NewWriterSize(fdWriter(fd), bufioSize)}, nil
}

func (bufferedPipeTransport) Receiver(spec ChannelSpec, size int, _ time.Time) (Receiver, error) {
	fd, err := inheritedFD(spec)
	if err != nil {
		return nil, err
	}
	return &bufferedReceiver{fd: fd, size: size, r: bufio.NewReaderSize(fdReader(fd), bufioSize), buf: make([]byte, size)}, nil
}

// bufferedSender frames each record into its buffer; the buffer goes to
// the pipe when it is full and on Flush.
type bufferedSender struct {
	fd, size int
	w        *bufio.Writer
	frame    [4]byte
}

func (s *bufferedSender) Alloc() []byte { return make([]byte, s.size) }

func (s *bufferedSender) Send(rec []byte) error {
	binary.LittleEndian.PutUint32(s.frame[:], uint32(len(rec)))
	if _, err := s.w.Write(s.frame[:]); err != nil {
		return err
	}
	_, err := s.w.Write(rec)
	return err
}

func (s *bufferedSender) Flush() error { return s.w.Flush() }

func (s *bufferedSender) Close() error { return errors.Join(s.w.Flush(), unix.Close(s.fd)) }

// bufferedReceiver reads a frame and copies its record out of the buffer.
type bufferedReceiver struct {
	fd, size int
	r        *bufio.Reader
	frame    [4]byte
	buf      []byte
}

func (s *bufferedReceiver) Recv() ([]byte, error) {
	if _, err := io.ReadFull(s.r, s.frame[:]); err != nil {
		return nil, err // io.EOF between records: the stream ended
	}
	if n := binary.LittleEndian.Uint32(s.frame[:]); n != uint32(s.size) {
		return nil, fmt.Errorf("frame of %d bytes, want %d", n, s.size)
	}
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return s.buf, nil
}

func (s *bufferedReceiver) Close() error { return unix.Close(s.fd) }

// fdWriter and fdReader are a descriptor as io.Writer and io.Reader.
type (
	fdWriter int
	fdReader int
)

func (w fdWriter) Write(p []byte) (int, error) {
	if err := writeFull(int(w), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (r fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(r), p)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}
