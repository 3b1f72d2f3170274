package bench

import (
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// fifoTransport is a named pipe made with mkfifo(3) in the run's private
// directory; each peer opens it by path, as unrelated programs would.
type fifoTransport struct{ traits }

func (fifoTransport) Create(env *Env, size int) (*Channel, error) {
	dir, err := env.TempDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, env.Name()+".fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	ch := &Channel{Spec: ChannelSpec{Addr: path, FD: -1}}
	return env.own("fifo "+path, ch, func() error { return os.Remove(path) }), nil
}

// Opening a FIFO blocks until the other end is opened too; the peers open
// their ends before reporting ready, and the coordinator kills a peer that
// never gets there.
func (fifoTransport) Sender(spec ChannelSpec, size int, _ time.Time) (Sender, error) {
	fd, err := openRetry(spec.Addr, unix.O_WRONLY)
	if err != nil {
		return nil, err
	}
	growPipe(fd)
	return &fdSender{fd: fd, size: size}, nil
}

func (fifoTransport) Receiver(spec ChannelSpec, size int, _ time.Time) (Receiver, error) {
	fd, err := openRetry(spec.Addr, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	return newStreamReceiver(fd, size), nil
}

func openRetry(path string, mode int) (int, error) {
	for {
		fd, err := unix.Open(path, mode|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}
