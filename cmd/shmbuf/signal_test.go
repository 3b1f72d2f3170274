package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"golang.org/x/sys/unix"
)

// Every test here starts the shmbuf command (this test binary, see
// TestMain) as a real process, sends it SIGTERM or SIGINT while it waits
// for something, and checks that it stops promptly with the shell's exit
// code, cleans up after itself and, when it wrote to a ring, ends the
// stream cleanly.

// signalBound is the generous bound on the time from the signal to the
// process's exit; the target is 100 ms, reported from the logged times.
const signalBound = 2 * time.Second

// bgDeadline bounds every other wait: for output, for a peer to exit.
const bgDeadline = 10 * time.Second

var stopSignals = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}

// lockedBuffer is a bytes.Buffer that a command's output copier fills
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// bgCmd is `shmbuf ARGS...` running in the background.
type bgCmd struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	waited chan error // receives cmd.Wait's result once
}

// startBg starts `shmbuf args...` with stdin (nil: /dev/null); it is
// killed when the test ends if it still runs.
func startBg(t *testing.T, stdin *os.File, args ...string) *bgCmd {
	t.Helper()
	return startBgTo(t, stdin, nil, args...)
}

// startBgTo is startBg with stdout going to a file of the test's (nil:
// the command's stdout buffer).
func startBgTo(t *testing.T, stdin, stdout *os.File, args ...string) *bgCmd {
	t.Helper()
	c := &bgCmd{t: t, name: "shmbuf " + strings.Join(args, " "), waited: make(chan error, 1)}
	c.cmd = shmbufCmd(args...)
	if stdin != nil {
		c.cmd.Stdin = stdin
	}
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if stdout != nil {
		c.cmd.Stdout = stdout
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.name, err)
	}
	go func() { c.waited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-c.waited:
			c.waited <- err
		default:
			c.cmd.Process.Kill()
			<-c.waited
		}
	})
	return c
}

// exitCode returns the code of a Wait result; a process killed by a
// signal has none and gets -1.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// wait waits (up to d) for the command to exit and returns its exit code
// and how long the wait took; it fails the test if the command is still
// running then (and kills it).
func (c *bgCmd) wait(d time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	select {
	case err := <-c.waited:
		took := time.Since(start)
		c.waited <- err
		return exitCodeOf(err), took
	case <-time.After(d):
		c.cmd.Process.Kill()
		c.t.Fatalf("%s still ran %v later; killed. stdout %q, stderr %q", c.name, d, c.stdout.String(), c.stderr.String())
	}
	return -1, 0
}

// stop sends sig and checks that the command exits with 128+sig within
// signalBound; it returns the time from the signal to the exit.
func (c *bgCmd) stop(sig syscall.Signal) time.Duration {
	c.t.Helper()
	start := time.Now()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("signal %s: %v", c.name, err)
	}
	code, _ := c.wait(bgDeadline)
	took := time.Since(start)
	c.t.Logf("%s: exit %d %v after %s", c.name, code, took.Round(100*time.Microsecond), unix.SignalName(sig))
	if want := 128 + int(sig); code != want {
		c.t.Errorf("%s exited %d after %s, want %d; stderr %q", c.name, code, unix.SignalName(sig), want, c.stderr.String())
	}
	if took > signalBound {
		c.t.Errorf("%s took %v to exit after %s, want less than %v", c.name, took, unix.SignalName(sig), signalBound)
	}
	return took
}

// waitStdout polls (bounded) until the command has printed want.
func (c *bgCmd) waitStdout(want string) {
	c.t.Helper()
	deadline := time.Now().Add(bgDeadline)
	for c.stdout.String() != want {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s printed %q, want %q within %v; stderr %q", c.name, c.stdout.String(), want, bgDeadline, c.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitFor polls cond (bounded), failing with what when it stays false.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bgDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bgDeadline)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// createTestRing creates a block-policy ring of size bytes and returns it
// open, for Stat.
func createTestRing(t *testing.T, name string, size int64) *shmbuf.Ring {
	t.Helper()
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func ringStatOf(t *testing.T, r *shmbuf.Ring) shmbuf.RingStat {
	t.Helper()
	st, err := r.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// stdinPipe is a pipe for a command's standard input that the test keeps
// open, like `tail -f`: the command never sees end of input.
func stdinPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// waitDrained waits until the pipe holds no unread bytes: the command
// has read everything written to it.
func waitDrained(t *testing.T, r *os.File) {
	t.Helper()
	waitFor(t, "the command reads its standard input", func() bool {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD
		if err != nil {
			t.Fatalf("FIONREAD (TIOCINQ): %v", err)
		}
		return n == 0
	})
}

// checkEnded checks that the ring's stream ended cleanly (its writer
// closed rather than being found dead) and that no slot is left taken.
func checkEnded(t *testing.T, r *shmbuf.Ring) {
	t.Helper()
	st := ringStatOf(t, r)
	if st.Ended != "eof" {
		t.Errorf("ring stream ended %q, want %q (a clean close)", st.Ended, "eof")
	}
	if len(st.Writers) != 0 || len(st.Readers) != 0 {
		t.Errorf("slots left taken: writers %+v, readers %+v", st.Writers, st.Readers)
	}
}

// checkNothingLeft removes the test's segment and checks that nothing
// else with its name was left in /dev/shm (a temporary file, say).
func checkNothingLeft(t *testing.T, name string) {
	t.Helper()
	if err := shmbuf.Remove(name); err != nil && !errors.Is(err, shmbuf.ErrNotExist) {
		t.Errorf("remove %s: %v", name, err)
	}
	if m, _ := filepath.Glob(filepath.Join(shmbuf.ShmDir, "*"+name+"*")); len(m) != 0 {
		t.Errorf("left in %s: %v", shmbuf.ShmDir, m)
	}
}

// TestSignal_WriteStream is `tail -f log | shmbuf write RING`: input keeps
// coming (the pipe stays open), the writer waits for it, and a signal
// stops it. The records it had read are in the ring, its partial last
// line as a final record, and a follower (--until-end) reaches a clean
// end of stream.
func TestSignal_WriteStream(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			ring := createTestRing(t, name, 64<<10)
			follower := startBg(t, nil, "read", "--until-end", name)
			waitFor(t, "the follower attaches", func() bool { return len(ringStatOf(t, ring).Readers) == 1 })

			in, feed := stdinPipe(t)
			writer := startBg(t, in, "write", name)
			if _, err := feed.WriteString("one\ntwo\n"); err != nil {
				t.Fatal(err)
			}
			follower.waitStdout("one\ntwo\n")
			if _, err := feed.WriteString("partial"); err != nil {
				t.Fatal(err)
			}
			waitDrained(t, in)
			time.Sleep(50 * time.Millisecond) // from read(2) to the writer's buffer

			writer.stop(sig)
			if s := writer.stderr.String(); s != "" {
				t.Errorf("writer's stderr %q, want nothing", s)
			}
			if code, _ := follower.wait(bgDeadline); code != 0 {
				t.Errorf("follower exited %d, want 0 (end of stream); stderr %q", code, follower.stderr.String())
			}
			if got, want := follower.stdout.String(), "one\ntwo\npartial"; got != want {
				t.Errorf("follower printed %q, want %q", got, want)
			}
			checkEnded(t, ring)
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_WriteWaitingForSpace stops a writer that waits for space in
// a full block ring with no reader: it gives up, reports on stderr in one
// line how much of what it had read it could not write, and closes, so
// that a follower (--until-end) started afterwards reads every record
// written and reaches a clean end of stream.
func TestSignal_WriteWaitingForSpace(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			ring := createTestRing(t, name, 4096)
			var input strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&input, "line-%04d\n", i) // 10 KB: more than the ring holds
			}

			in, feed := stdinPipe(t)
			writer := startBg(t, in, "write", name)
			if _, err := feed.WriteString(input.String()); err != nil {
				t.Fatal(err)
			}
			// Blocked: no room for another record (10 bytes take 32).
			waitFor(t, "the writer fills the ring", func() bool {
				st := ringStatOf(t, ring)
				return st.Tail+32 > uint64(st.Capacity)
			})
			time.Sleep(50 * time.Millisecond) // into its wait

			writer.stop(sig)
			unread, err := unix.IoctlGetInt(int(in.Fd()), unix.TIOCINQ) // FIONREAD
			if err != nil {
				t.Fatal(err)
			}
			// After a second of waiting the writer says why, once: a
			// loaded machine may take that long to get here.
			line := writer.stderr.String()
			if notice, rest, ok := strings.Cut(line, "\n"); ok && strings.HasPrefix(notice, "shmbuf: waiting for a reader of posix:"+name+": ") {
				line = rest
			}
			var unwritten int
			_, after, _ := strings.Cut(line, ": ")
			if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "shmbuf: write posix:"+name+": interrupted by "+unix.SignalName(sig)) ||
				!strings.Contains(line, "waiting for space") {
				t.Errorf("writer's stderr %q, want one line saying it was interrupted while waiting for space", line)
			} else if _, err := fmt.Sscanf(after[strings.LastIndex(after, ": ")+2:], "%d bytes", &unwritten); err != nil {
				t.Errorf("writer's stderr %q does not say how many bytes were not written: %v", line, err)
			}

			follower := startBg(t, nil, "read", "--until-end", name)
			if code, _ := follower.wait(bgDeadline); code != 0 {
				t.Errorf("follower exited %d, want 0 (end of stream); stderr %q", code, follower.stderr.String())
			}
			got := follower.stdout.String()
			if got == "" || !strings.HasPrefix(input.String(), got) || !strings.HasSuffix(got, "\n") {
				t.Errorf("follower printed %d bytes ending %q: not whole records from the start of the input", len(got), got[max(0, len(got)-20):])
			}
			if len(got)+unwritten+unread != input.Len() {
				t.Errorf("follower printed %d bytes, the writer reported %d not written and left %d unread; the input was %d bytes", len(got), unwritten, unread, input.Len())
			}
			checkEnded(t, ring)
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_ReadFollowRing stops `shmbuf read -f RING` waiting for
// records: it has printed what it read, frees its reader slot, and exits
// 128+signal while the writer goes on.
func TestSignal_ReadFollowRing(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			ring := createTestRing(t, name, 64<<10)
			in, feed := stdinPipe(t)
			writer := startBg(t, in, "write", name)
			waitFor(t, "the writer attaches", func() bool { return len(ringStatOf(t, ring).Writers) == 1 })
			follower := startBg(t, nil, "read", "-f", name)
			if _, err := feed.WriteString("x\n"); err != nil {
				t.Fatal(err)
			}
			follower.waitStdout("x\n")

			follower.stop(sig)
			if s := follower.stderr.String(); s != "" {
				t.Errorf("follower's stderr %q, want nothing", s)
			}
			if got := follower.stdout.String(); got != "x\n" {
				t.Errorf("follower printed %q, want %q", got, "x\n")
			}
			if st := ringStatOf(t, ring); len(st.Readers) != 0 {
				t.Errorf("reader slots still taken: %+v", st.Readers)
			}
			feed.Close()
			if code, _ := writer.wait(bgDeadline); code != 0 {
				t.Errorf("writer exited %d at end of input, want 0; stderr %q", code, writer.stderr.String())
			}
			checkEnded(t, ring)
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_ReadFollowSnapshot stops `shmbuf read -f SNAPSHOT` waiting
// for a new value.
func TestSignal_ReadFollowSnapshot(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			snap, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			if err := snap.Publish([]byte("v1\n")); err != nil {
				t.Fatal(err)
			}
			follower := startBg(t, nil, "read", "-f", name)
			follower.waitStdout("v1\n")
			follower.stop(sig)
			if s := follower.stderr.String(); s != "" {
				t.Errorf("follower's stderr %q, want nothing", s)
			}
			snap.Close()
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_InteractiveWrite stops an interactive `shmbuf write RING` on
// a real terminal: with Ctrl-C typed (the terminal sends SIGINT) and
// with SIGTERM. The lines entered are records, the stream ends cleanly
// and the terminal's settings are as before.
func TestSignal_InteractiveWrite(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			ring := createTestRing(t, name, 64<<10)
			follower := startBg(t, nil, "read", "--until-end", name)
			waitFor(t, "the follower attaches", func() bool { return len(ringStatOf(t, ring).Readers) == 1 })

			s := startPty(t, "write", name)
			s.typeText("one\n")
			follower.waitStdout("one\n")
			start := time.Now()
			if sig == syscall.SIGINT {
				s.typeText("\x03") // Ctrl-C
			} else if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := s.wait()
			took := time.Since(start)
			t.Logf("interactive shmbuf write: exit %d %v after %s", code, took.Round(100*time.Microsecond), unix.SignalName(sig))
			if want := 128 + int(sig); code != want {
				t.Errorf("shmbuf write exited %d, want %d; terminal showed:\n%s", code, want, s.output())
			}
			if took > signalBound {
				t.Errorf("shmbuf write took %v to exit, want less than %v", took, signalBound)
			}
			s.checkTermios()
			s.stop()

			if code, _ := follower.wait(bgDeadline); code != 0 {
				t.Errorf("follower exited %d, want 0 (end of stream); stderr %q", code, follower.stderr.String())
			}
			if got := follower.stdout.String(); got != "one\n" {
				t.Errorf("follower printed %q, want %q", got, "one\n")
			}
			checkEnded(t, ring)
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_Bench interrupts `shmbuf bench` in the middle of a run: it
// keeps its cleanup (every segment it made is gone) and exits like every
// other command. The run is of rings only, so that the signal comes as
// soon as the first ring exists, not after the kernel transports (which
// come first in a run) have been measured.
func TestSignal_Bench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts benchmark runs")
	}
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			t.Parallel()
			b := startBg(t, nil, "bench", "--quiet", "--sizes", "64", "--transports", "ring,ring-spin",
				"--phase", "150ms", "--reps", "3")
			prefix := filepath.Join(shmbuf.ShmDir, fmt.Sprintf("shmbuf-bench-%d-", b.cmd.Process.Pid))
			waitFor(t, "the benchmark creates a ring", func() bool {
				m, _ := filepath.Glob(prefix + "*")
				return len(m) > 0
			})
			b.stop(sig)
			if m, _ := filepath.Glob(prefix + "*"); len(m) > 0 {
				t.Errorf("left in /dev/shm: %v", m)
			}
		})
	}
}

// TestSignal_WriteValue stops `shmbuf write` of a raw value whose input
// never ends: input cut short is not a value, so nothing is created.
func TestSignal_WriteValue(t *testing.T) {
	for _, sig := range stopSignals {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := uniqueName(t)
			in, feed := stdinPipe(t)
			writer := startBg(t, in, "write", name)
			if _, err := feed.WriteString("half a value\n"); err != nil {
				t.Fatal(err)
			}
			waitDrained(t, in)
			writer.stop(sig)
			if s := writer.stderr.String(); s != "" {
				t.Errorf("writer's stderr %q, want nothing", s)
			}
			if _, err := os.Lstat(filepath.Join(shmbuf.ShmDir, name)); err == nil {
				t.Errorf("an interrupted write created /dev/shm/%s", name)
			}
			checkNothingLeft(t, name)
		})
	}
}

// TestSignal_SecondSignalKills stops `shmbuf read -f` blocked in the
// kernel, writing to a full pipe nobody reads: the first signal cannot
// reach it, a second kills it as a signal does by default.
func TestSignal_SecondSignalKills(t *testing.T) {
	name := uniqueName(t)
	ring := createTestRing(t, name, 256<<10)
	in, feed := stdinPipe(t)
	writer := startBg(t, in, "write", name)
	unread, stuck, err := os.Pipe() // nobody reads it
	if err != nil {
		t.Fatal(err)
	}
	defer unread.Close()
	follower := startBgTo(t, nil, stuck, "read", "-f", name)
	stuck.Close()

	line := strings.Repeat("x", 1023) + "\n"
	for range 200 { // 200 KiB: more than the pipe holds
		if _, err := feed.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the follower stops reading (its stdout is full)", func() bool {
		st := ringStatOf(t, ring)
		return len(st.Readers) == 1 && st.Readers[0].Lag > 0 && st.Tail == 200*1040
	})
	// The first signal cancels the command, which cannot notice it; once
	// shmbuf has taken it, a signal kills it as by default. Signals do
	// not queue, and nothing outside tells when shmbuf has taken the
	// first, so SIGTERM is repeated until the follower is gone: it must
	// die of one (a follower that the first one reached would instead
	// exit 143, having closed its reader).
	follower.cmd.Process.Signal(syscall.SIGTERM)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(bgDeadline)
	for ended := false; !ended; {
		select {
		case err := <-follower.waited:
			follower.waited <- err
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
				t.Errorf("the follower blocked writing to a full pipe ended with %v, want killed by a second SIGTERM", err)
			}
			ended = true
		case <-tick.C:
			follower.cmd.Process.Signal(syscall.SIGTERM)
		case <-deadline:
			t.Fatalf("the follower survived SIGTERMs for %v", bgDeadline)
		}
	}
	feed.Close()
	if code, _ := writer.wait(bgDeadline); code != 0 {
		t.Errorf("writer exited %d, want 0; stderr %q", code, writer.stderr.String())
	}
}

// TestSignal_BusyStream stops a follower and then the writer while
// records flow as fast as they can: neither waits, so neither is stopped
// by a wait noticing the signal. The follower that stays (--until-end)
// sees every line written, in order, then a clean end of stream.
func TestSignal_BusyStream(t *testing.T) {
	name := uniqueName(t)
	ring := createTestRing(t, name, 1<<20)
	stopped := startBg(t, nil, "read", "-f", name)
	staying := startBg(t, nil, "read", "--until-end", name)
	waitFor(t, "the followers attach", func() bool { return len(ringStatOf(t, ring).Readers) == 2 })

	in, feed := stdinPipe(t)
	writer := startBg(t, in, "write", name)
	fed := make(chan int, 1)
	go func() { // `seq` without end, until the writer is gone
		var b []byte
		i := 0
		for ; ; i++ {
			b = fmt.Appendf(b[:0], "%d\n", i)
			if _, err := feed.Write(b); err != nil {
				break
			}
		}
		fed <- i
	}()
	waitFor(t, "records flow", func() bool { return ringStatOf(t, ring).Tail > 1<<20 })
	stopped.stop(syscall.SIGTERM)
	waitFor(t, "records flow on", func() bool { return ringStatOf(t, ring).Tail > 2<<20 })
	writer.stop(syscall.SIGTERM)
	in.Close() // the feeder's next write fails: nobody reads the pipe
	select {
	case <-fed:
	case <-time.After(bgDeadline):
		t.Fatal("the feeder goroutine is still writing")
	}

	if code, _ := staying.wait(bgDeadline); code != 0 {
		t.Errorf("the follower that stayed exited %d, want 0 (end of stream); stderr %q", code, staying.stderr.String())
	}
	out := staying.stdout.String()
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1] // "" or a partial line, written as the final record
	lines = lines[:len(lines)-1]
	for i, l := range lines {
		if l != fmt.Sprint(i) {
			t.Fatalf("the follower's line %d is %q, want %d: records lost or out of order", i, l, i)
		}
	}
	if !strings.HasPrefix(fmt.Sprint(len(lines)), last) {
		t.Errorf("the follower's last, partial record %q is not the start of %d", last, len(lines))
	}
	t.Logf("%d lines through the ring", len(lines))
	checkEnded(t, ring)
	checkNothingLeft(t, name)
}
