package bench

import (
	"errors"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// pollReceiver reads records from several byte streams at once, the way a
// reader with a pipe per writer does: poll(2) for the streams with data,
// one read from each, then the whole records in the buffers, taking the
// streams in turn so that none starves.
type pollReceiver struct {
	streams  []*streamReceiver
	fds      []unix.PollFd
	next     int
	ended    int
	deadline time.Time
}

func newPollReceiver(fds []int, size int, deadline time.Time) *pollReceiver {
	p := &pollReceiver{deadline: deadline}
	for _, fd := range fds {
		p.streams = append(p.streams, newStreamReceiver(fd, size))
		p.fds = append(p.fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	return p
}

func (p *pollReceiver) Recv() ([]byte, error) {
	for {
		for range p.streams {
			s := p.streams[p.next]
			p.next = (p.next + 1) % len(p.streams)
			if rec := s.take(); rec != nil {
				return rec, nil
			}
		}
		if p.ended == len(p.streams) {
			return nil, io.EOF
		}
		n, err := unix.Poll(p.fds, 1000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 && time.Now().After(p.deadline) {
			return nil, errors.New("no record before the deadline")
		}
		for i := range p.fds {
			if p.fds[i].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) == 0 {
				continue
			}
			err := p.streams[i].fill()
			if err == io.EOF {
				p.fds[i].Fd = -1 // poll ignores it from now on
				p.ended++
				continue
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

func (p *pollReceiver) Close() error {
	var errs []error
	for _, s := range p.streams {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
