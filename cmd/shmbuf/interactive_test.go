package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// ptyDeadline bounds every wait in these tests: for the segment to show a
// line, for the command to exit, for the output drain to stop.
const ptyDeadline = 10 * time.Second

// ptySession is `shmbuf ARGS...` running in a new session whose
// controlling terminal, stdin, stdout and stderr are the slave side of a
// real pseudo-terminal. The test types on the master side.
type ptySession struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	waited chan error // receives cmd.Wait's result once

	slavePath string        // the terminal, to look at its settings again
	termios   *unix.Termios // its settings when the command started

	mu      sync.Mutex
	out     bytes.Buffer  // everything the child printed (and the echo)
	drained chan struct{} // closed when the drain goroutine returns
}

// startPty opens /dev/ptmx, unlocks and opens its slave, and starts the
// shmbuf command (this test binary, see TestMain) on it.
func startPty(t *testing.T, args ...string) *ptySession {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		t.Fatalf("TIOCGPTN: %v", err)
	}
	// Non-blocking, so that os.File puts the master in the runtime poller
	// and Close at the end interrupts a pending Read in the drain
	// goroutine.
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		t.Fatalf("set pty master non-blocking: %v", err)
	}
	master := os.NewFile(uintptr(mfd), "/dev/ptmx")
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatalf("open pty slave: %v", err)
	}

	termios, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		slave.Close()
		master.Close()
		t.Fatalf("TCGETS: %v", err)
	}
	s := &ptySession{t: t, master: master, waited: make(chan error, 1), drained: make(chan struct{}),
		slavePath: slave.Name(), termios: termios}
	s.cmd = shmbufCmd(args...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = slave, slave, slave
	// A session of its own with the pty as controlling terminal, as a
	// shell in a terminal window would start it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = s.cmd.Start()
	// The child has its own copy; keeping ours open would stop the master
	// from seeing the slave close when the child exits.
	slave.Close()
	if err != nil {
		master.Close()
		t.Fatalf("start shmbuf: %v", err)
	}
	go func() { s.waited <- s.cmd.Wait() }()
	// Drain the master so the child never blocks writing its prompt or
	// the terminal's echo.
	go func() {
		defer close(s.drained)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return // EIO once the child's side is closed, or ErrClosed
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// output returns what the terminal showed so far.
func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// typeText sends keystrokes to the child.
func (s *ptySession) typeText(text string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(text)); err != nil {
		s.t.Fatalf("type %q: %v", text, err)
	}
}

// wait waits (bounded) for the child to exit and returns its exit code.
func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case err := <-s.waited:
		s.waited <- err // for stop
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		}
		s.t.Fatalf("wait for shmbuf: %v", err)
	case <-time.After(ptyDeadline):
		s.t.Fatalf("shmbuf did not exit within %v; terminal showed:\n%s", ptyDeadline, s.output())
	}
	return -1
}

// stop kills the child if it still runs, closes the master and waits for
// the drain goroutine, so nothing outlives the test.
func (s *ptySession) stop() {
	select {
	case err := <-s.waited:
		s.waited <- err
	default:
		s.cmd.Process.Kill()
		select {
		case err := <-s.waited:
			s.waited <- err
		case <-time.After(ptyDeadline):
			s.t.Errorf("shmbuf (pid %d) survived SIGKILL for %v", s.cmd.Process.Pid, ptyDeadline)
		}
	}
	s.master.Close()
	select {
	case <-s.drained:
	case <-time.After(ptyDeadline):
		s.t.Errorf("pty drain goroutine did not stop within %v", ptyDeadline)
	}
}

// checkTermios checks that the terminal's settings are those it had
// when the command started: a command that changed them and exited left
// the user's shell a broken terminal.
func (s *ptySession) checkTermios() {
	s.t.Helper()
	f, err := os.OpenFile(s.slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		s.t.Fatalf("open %s: %v", s.slavePath, err)
	}
	defer f.Close()
	now, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		s.t.Fatalf("TCGETS: %v", err)
	}
	if *now != *s.termios {
		s.t.Errorf("terminal settings changed: %+v, were %+v", *now, *s.termios)
	}
}

// waitContent polls (bounded) until path holds want, as a reader in
// another terminal would see it.
func waitContent(t *testing.T, s *ptySession, path, want string) {
	t.Helper()
	deadline := time.Now().Add(ptyDeadline)
	var got []byte
	var err error
	for time.Now().Before(deadline) {
		got, err = os.ReadFile(path)
		if err == nil && string(got) == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s holds %q (err %v), want %q within %v; terminal showed:\n%s", path, got, err, want, ptyDeadline, s.output())
}

// TestWrite_InteractiveTerminal types two lines into `shmbuf write` on a
// real terminal: each replaces the segment's content as soon as it is
// entered, and Ctrl-D ends the session with exit code 0.
func TestWrite_InteractiveTerminal(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	name := uniqueName(t)
	path := filepath.Join(shmbuf.ShmDir, name)

	s := startPty(t, "write", name)
	s.typeText("first line\n")
	waitContent(t, s, path, "first line\n")
	s.typeText("second\n")
	waitContent(t, s, path, "second\n")
	s.typeText("\x04") // Ctrl-D at the start of a line: end of input
	if code := s.wait(); code != 0 {
		t.Fatalf("shmbuf write exited %d, want 0; terminal showed:\n%s", code, s.output())
	}
	s.stop()

	out := s.output()
	if !strings.Contains(out, "writing to posix:"+name+", which does not exist yet: the first line you enter creates it as a raw segment and each line replaces its content; Ctrl-D ends.") {
		t.Errorf("no interactive hint on the terminal; it showed:\n%s", out)
	}
	if !strings.Contains(out, "> ") {
		t.Errorf("no prompt on the terminal; it showed:\n%s", out)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "second\n" {
		t.Errorf("after the session %s holds %q (err %v), want %q", path, got, err, "second\n")
	}
}

// TestWrite_InteractiveTooLarge types a line too large for a snapshot's
// capacity: it is reported on the terminal, the previous value stays, the
// session goes on, and the exit code (1, a failure) reports it.
func TestWrite_InteractiveTooLarge(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	name := uniqueName(t)
	snap, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	// waitValue polls the snapshot's value (bounded).
	waitValue := func(s *ptySession, gen uint64, want string) {
		t.Helper()
		deadline := time.Now().Add(ptyDeadline)
		for time.Now().Before(deadline) {
			if snap.Generation() >= gen {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		v, _, err := snap.Load(nil)
		if err != nil || string(v) != want || snap.Generation() != gen {
			t.Fatalf("snapshot holds %q at generation %d (err %v), want %q at %d; terminal showed:\n%s", v, snap.Generation(), err, want, gen, s.output())
		}
	}

	s := startPty(t, "write", name)
	s.typeText("ok\n")
	waitValue(s, 1, "ok\n")
	s.typeText("far too long for eight bytes\n")
	deadline := time.Now().Add(ptyDeadline)
	for !strings.Contains(s.output(), "value too large") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(s.output(), "shmbuf: write posix:"+name+": value too large for segment") {
		t.Fatalf("no error for the long line; terminal showed:\n%s", s.output())
	}
	s.typeText("last\n")
	waitValue(s, 2, "last\n")
	s.typeText("\x04")
	if code := s.wait(); code != exitFailure {
		t.Fatalf("shmbuf write exited %d, want %d; terminal showed:\n%s", code, exitFailure, s.output())
	}
	s.stop()
	if !strings.Contains(s.output(), "(snapshot)") {
		t.Errorf("hint does not name the kind; terminal showed:\n%s", s.output())
	}
}

// TestWrite_PipeIsNotInteractive checks the other side of the terminal
// test: from a pipe the whole input, several lines, is one value and no
// prompt is printed.
func TestWrite_PipeIsNotInteractive(t *testing.T) {
	name := uniqueName(t)
	cmd := shmbufCmd("write", name)
	cmd.Stdin = strings.NewReader("one\ntwo\nthree\n")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("shmbuf write: %v: %s", err, stderr.Bytes())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q, want nothing", stderr.Bytes())
	}
	got, err := os.ReadFile(filepath.Join(shmbuf.ShmDir, name))
	if err != nil || string(got) != "one\ntwo\nthree\n" {
		t.Errorf("segment holds %q (err %v), want the whole input", got, err)
	}
}
