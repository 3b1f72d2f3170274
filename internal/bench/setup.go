package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/bench/kipc"
	"golang.org/x/sys/unix"
)

// SetupResult is the cost of one mechanism's whole life: create it,
// attach the other end, carry the first message and remove it again.
type SetupResult struct {
	Mechanism string `json:"mechanism"`
	Kind      string `json:"kind"` // "kernel" or "software", as in the transfer table
	// Steps says what one setup does.
	Steps string `json:"steps"`
	// Setups is how many setups were measured (after the warm-up ones).
	Setups int    `json:"setups"`
	Size   int    `json:"size"` // of the message
	P50    int64  `json:"p50_ns"`
	P99    int64  `json:"p99_ns"`
	Note   string `json:"note"`
	Failed bool   `json:"failed,omitempty"`
}

// mechanism is one way of setting up a channel between two ends, done
// whole by once: both ends live in the measuring process (starting a
// process costs the same for every mechanism and is not counted).
type mechanism struct {
	name   string
	kernel bool
	steps  string
	once   func(s *setupRun) error
}

// maxSetupSize is the largest message --setup carries: every mechanism
// takes it in one piece with the system's default limits.
const maxSetupSize = 4 << 10

// setupSegment is the size of the shared-memory segments a setup
// creates: room for a pipe's default buffer of small records.
const setupSegment = 64 << 10

// mechanisms lists what --setup measures, kernel ones first.
var mechanisms = []mechanism{
	{"pipe", true, "pipe2, write, read, close both", setupPipe},
	{"fifo", true, "mkfifo in $TMPDIR, open both ends, write, read, close, unlink", setupFIFO},
	{"unix-socket", true, "socket, bind in $TMPDIR, listen, connect, accept, write, read, close, unlink", setupUnixSocket},
	{"posix-mq", true, "mq_open (create), mq_open, send, receive, close, mq_unlink", setupPosixMQ},
	{"sysv-mq", true, "msgget, msgsnd, msgrcv, msgctl IPC_RMID", setupSysvMQ},
	{"shm-file", true, "open /dev/shm file (create), pwrite, open, pread, close, unlink", setupShmFile},
	{"posix-shm", false, "shmbuf raw segment in /dev/shm (64KiB): create, store, open, load, close, remove", setupPosixShm},
	{"sysv-shm", false, "shmbuf raw System V segment (64KiB): create, store, open, load, close, remove", setupSysvShm},
	{"snapshot", false, "shmbuf snapshot (64KiB): create, publish, open, load, close, remove", setupSnapshot},
	{"ring", false, "shmbuf ring (64KiB): create, writer, open, reader, write, next, close, remove", setupRing},
}

func mechanismNames() []string {
	var ns []string
	for _, m := range mechanisms {
		ns = append(ns, m.name)
	}
	return ns
}

// setupRun is the state of one mechanism's measurement. Each setup gets
// a fresh name; what a setup made and did not remove (it failed, or the
// run was interrupted) is removed through leftovers.
type setupRun struct {
	name string // this setup's name: unique in the run and on the machine
	dir  string // the run's private directory
	msg  []byte
	buf  []byte
	ctx  context.Context // bounds the ring reader's wait
	// leftovers undo whatever the current setup has not removed yet.
	leftovers []func() error
}

// made registers undo for something the setup has just made; done
// forgets it again once the setup removed it itself.
func (s *setupRun) made(undo func() error) { s.leftovers = append(s.leftovers, undo) }
func (s *setupRun) done()                  { s.leftovers = s.leftovers[:0] }

func (s *setupRun) cleanup() error {
	var errs []error
	for i := len(s.leftovers) - 1; i >= 0; i-- {
		errs = append(errs, s.leftovers[i]())
	}
	s.done()
	return errors.Join(errs...)
}

// opened registers the closing of a descriptor a system call just
// returned, when it returned one.
func (s *setupRun) opened(fd int, err error) (int, error) {
	if err == nil {
		s.made(func() error { return unix.Close(fd) })
	}
	return fd, err
}

// carry writes the message to w and reads it back from r.
func (s *setupRun) carry(w, r int) error {
	if err := writeFull(w, s.msg); err != nil {
		return err
	}
	if _, err := readFull(r, s.buf); err != nil {
		return err
	}
	return s.check(s.buf)
}

// check compares the message that arrived with the one sent.
func (s *setupRun) check(got []byte) error {
	if !bytes.Equal(got, s.msg) {
		return fmt.Errorf("the message arrived as %q, want %q", got, s.msg)
	}
	return nil
}

// runSetups measures each mechanism and adds the results to rep.
func runSetups(ctx context.Context, h *harness, ms []mechanism, o Options, bar *progress, rep *Report) (failed []string) {
	size := o.Sizes[0]
	if len(o.CPUs) > 0 {
		// Both ends live in this process: its measuring thread is pinned
		// to the writer's core.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var old, set unix.CPUSet
		if unix.SchedGetaffinity(0, &old) == nil {
			set.Set(o.CPUs[0])
			if unix.SchedSetaffinity(0, &set) == nil {
				defer unix.SchedSetaffinity(0, &old)
			}
		}
	}
	for _, m := range ms {
		bar.describe(fmt.Sprintf("setup %-12s", m.name))
		r, err := h.measureSetup(ctx, m, size, o.Setups, o.Warmup)
		bar.step()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Failed = true
			r.Note = "FAILED: " + err.Error()
			failed = append(failed, "setup "+m.name)
		}
		rep.Setup = append(rep.Setup, r)
	}
	return failed
}

// measureSetup times n setups of m after 10×warmup unmeasured ones.
func (h *harness) measureSetup(ctx context.Context, m mechanism, size, n, warmup int) (SetupResult, error) {
	r := SetupResult{Mechanism: m.name, Kind: "software", Steps: m.steps, Size: size}
	if m.kernel {
		r.Kind = "kernel"
	}
	dir, err := h.env.TempDir()
	if err != nil {
		return r, err
	}
	r.Steps = strings.ReplaceAll(r.Steps, "$TMPDIR", fmt.Sprintf("%s (%s)", os.TempDir(), fsType(dir)))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s := &setupRun{dir: dir, msg: make([]byte, size), buf: make([]byte, size), ctx: ctx}
	newPattern(size).fill(s.msg, 1)
	for i, b := range s.msg {
		if b == 0 {
			s.msg[i] = 0xa5 // a raw segment's reader trims trailing NULs
		}
	}
	remove := h.env.reg.add("setup "+m.name, s.cleanup)
	defer remove()
	times := make([]time.Duration, 0, n)
	for i := range 10*warmup + n {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		s.name = h.env.Name()
		t0 := time.Now()
		err := m.once(s)
		d := time.Since(t0)
		if err != nil {
			return r, errors.Join(fmt.Errorf("setup %d: %w", i+1, err), s.cleanup())
		}
		if i >= 10*warmup {
			times = append(times, d)
		}
	}
	slices.Sort(times)
	r.Setups = len(times)
	r.P50 = int64(times[len(times)/2])
	r.P99 = int64(times[(len(times)*99+99)/100-1])
	return r, nil
}

func closeAll(fds ...int) error {
	var errs []error
	for _, fd := range fds {
		errs = append(errs, unix.Close(fd))
	}
	return errors.Join(errs...)
}

func setupPipe(s *setupRun) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	s.made(func() error { return closeAll(p[0], p[1]) })
	if err := s.carry(p[1], p[0]); err != nil {
		return err
	}
	s.done()
	return closeAll(p[0], p[1])
}

func setupFIFO(s *setupRun) error {
	path := filepath.Join(s.dir, s.name)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return err
	}
	s.made(func() error { return os.Remove(path) })
	// Opening the read end does not wait for a writer with O_NONBLOCK;
	// the write end then finds its reader.
	r, err := s.opened(unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0))
	if err != nil {
		return err
	}
	w, err := s.opened(unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0))
	if err != nil {
		return err
	}
	if err := s.carry(w, r); err != nil {
		return err
	}
	s.done()
	return errors.Join(closeAll(w, r), os.Remove(path))
}

func setupUnixSocket(s *setupRun) error {
	path := filepath.Join(s.dir, s.name)
	l, err := s.opened(unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
	if err != nil {
		return err
	}
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	s.made(func() error { return os.Remove(path) })
	if err := unix.Listen(l, 1); err != nil {
		return err
	}
	c, err := s.opened(unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
	if err != nil {
		return err
	}
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	a, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		return err
	}
	s.made(func() error { return unix.Close(a) })
	if err := s.carry(c, a); err != nil {
		return err
	}
	s.done()
	return errors.Join(closeAll(a, c, l), os.Remove(path))
}

func setupPosixMQ(s *setupRun) error {
	attr := kipc.MqAttr{MaxMsg: int64(min(10, readProcInt(mqMsgMax, 10))), MsgSize: int64(len(s.msg))}
	w, err := kipc.MqOpen(s.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, &attr)
	if err != nil {
		return fmt.Errorf("mq_open: %w", err)
	}
	name := s.name
	s.made(func() error { return kipc.MqUnlink(name) })
	s.made(func() error { return unix.Close(w) })
	r, err := s.opened(kipc.MqOpen(s.name, unix.O_RDONLY, 0, nil))
	if err != nil {
		return fmt.Errorf("mq_open: %w", err)
	}
	if err := kipc.MqTimedSend(w, s.msg, nil); err != nil {
		return fmt.Errorf("mq_send: %w", err)
	}
	n, err := kipc.MqTimedReceive(r, s.buf, nil)
	if err != nil {
		return fmt.Errorf("mq_receive: %w", err)
	}
	s.done()
	return errors.Join(s.check(s.buf[:n]), closeAll(w, r), kipc.MqUnlink(name))
}

func setupSysvMQ(s *setupRun) error {
	id, err := kipc.MsgGet(unix.IPC_PRIVATE, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		return fmt.Errorf("msgget: %w", err)
	}
	s.made(func() error { return kipc.MsgRemove(id) })
	m := make([]byte, 8+len(s.msg)) // the message type, then the text
	m[0] = 1
	copy(m[8:], s.msg)
	if err := kipc.MsgSnd(id, m, 0); err != nil {
		return fmt.Errorf("msgsnd: %w", err)
	}
	clear(m)
	n, err := kipc.MsgRcv(id, m, 0)
	if err != nil {
		return fmt.Errorf("msgrcv: %w", err)
	}
	s.done()
	return errors.Join(s.check(m[8:8+n]), kipc.MsgRemove(id))
}

func setupShmFile(s *setupRun) error {
	path := filepath.Join("/dev/shm", s.name)
	w, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	s.made(func() error { return os.Remove(path) })
	s.made(func() error { return unix.Close(w) })
	if _, err := unix.Pwrite(w, s.msg, 0); err != nil {
		return err
	}
	r, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	s.made(func() error { return unix.Close(r) })
	n, err := preadFull(r, s.buf, 0)
	if err != nil {
		return err
	}
	s.done()
	return errors.Join(s.check(s.buf[:n]), closeAll(w, r), os.Remove(path))
}

// setupRaw is the life of a raw segment at addr: create, store, open,
// load, close both, remove.
func setupRaw(s *setupRun, addr string) error {
	w, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: setupSegment})
	if err != nil {
		return err
	}
	s.made(func() error { return shmbuf.Remove(addr) })
	s.made(w.Close)
	if err := w.Store(s.msg); err != nil {
		return err
	}
	r, err := shmbuf.OpenRaw(addr)
	if err != nil {
		return err
	}
	s.made(r.Close)
	v, err := r.Load()
	if err != nil {
		return err
	}
	s.done()
	return errors.Join(s.check(v), r.Close(), w.Close(), shmbuf.Remove(addr))
}

func setupPosixShm(s *setupRun) error { return setupRaw(s, s.name) }

// setupSysvShm draws a key for the segment; a key someone else holds is
// drawn again.
func setupSysvShm(s *setupRun) error {
	for range 16 {
		err := setupRaw(s, fmt.Sprintf("sysv:%d", 0x5c000000+rand.IntN(0x00ffffff)))
		if !errors.Is(err, shmbuf.ErrExist) {
			return err
		}
	}
	return errors.New("no free System V key after 16 tries")
}

func setupSnapshot(s *setupRun) error {
	w, err := shmbuf.CreateSnapshot(s.name, shmbuf.CreateOptions{Size: setupSegment})
	if err != nil {
		return err
	}
	name := s.name
	s.made(func() error { return shmbuf.Remove(name) })
	s.made(w.Close)
	if err := w.Publish(s.msg); err != nil {
		return err
	}
	r, err := shmbuf.OpenSnapshot(s.name)
	if err != nil {
		return err
	}
	s.made(r.Close)
	v, _, err := r.Load(s.buf[:0])
	if err != nil {
		return err
	}
	s.done()
	return errors.Join(s.check(v), r.Close(), w.Close(), shmbuf.Remove(name))
}

func setupRing(s *setupRun) error {
	name := s.name
	rg, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: setupSegment, Readers: 1, Writers: 1})
	if err != nil {
		return err
	}
	s.made(func() error { return shmbuf.Remove(name) })
	s.made(rg.Close)
	w, err := rg.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		return err
	}
	s.made(w.Close)
	ro, err := shmbuf.OpenRing(name)
	if err != nil {
		return err
	}
	s.made(ro.Close)
	rd, err := ro.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromOldest})
	if err != nil {
		return err
	}
	s.made(rd.Close)
	if _, err := w.Write(s.msg); err != nil {
		return err
	}
	v, err := rd.Next(s.ctx)
	if err != nil {
		return err
	}
	if err := s.check(v); err != nil {
		return err
	}
	s.done()
	return errors.Join(rd.Close(), ro.Close(), w.Close(), rg.Close(), shmbuf.Remove(name))
}

// fsType names the file system that holds path, as far as it knows it:
// where a FIFO or a socket is made decides much of what it costs.
func fsType(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return "unknown file system"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("file system %#x", st.Type)
}

// readFull reads exactly len(p) bytes.
func readFull(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Read(fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, errors.New("end of stream before the message")
		}
		n += m
	}
	return n, nil
}
