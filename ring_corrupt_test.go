package shmbuf_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// Live corruption: a writer and a follower run in child processes while
// the test overwrites one control word of the ring with garbage. Each
// child must end within seconds, with ErrCorrupt or a documented clean
// outcome, and never deliver a record out of order.

// Exit codes of the corruption children.
const (
	corruptExitOK      = 0 // writer: wrote everything and closed; reader: io.EOF after every record
	corruptExitCorrupt = 4 // ErrCorrupt
	corruptExitLost    = 5 // reader: ErrWriterLost (the writer closed with an error)
)

func init() {
	childRoles["corrupt-writer"] = corruptWriterChild
	childRoles["corrupt-reader"] = corruptReaderChild
}

const corruptMaxLen = 64

// corruptExit maps a child's final error to its exit code.
func corruptExit(err error) int {
	switch {
	case err == nil:
		return corruptExitOK
	case errors.Is(err, shmbuf.ErrCorrupt):
		return corruptExitCorrupt
	case errors.Is(err, shmbuf.ErrWriterLost):
		return corruptExitLost
	}
	return 1
}

// pauseHalfway tells the test that a writer child is half done ("half")
// and waits for the test's byte on stdin.
func pauseHalfway() {
	fmt.Println("half")
	var b [1]byte
	os.Stdin.Read(b[:])
}

// endWriter ends a writer child whose writing ended with err: on an
// error it closes w with it (readers get ErrWriterLost), prints it and
// exits with corruptExit's code; otherwise it closes w.
func endWriter(w *shmbuf.Writer, err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		w.CloseWithError(err)
		return corruptExit(err)
	}
	if err := w.Close(); err != nil {
		return childFail("%v", err)
	}
	return 0
}

// corruptWriterChild writes RING_N1 records, prints "half", waits for a
// byte on stdin, writes RING_N2 more, and closes. On an error it closes
// with that error (readers get ErrWriterLost), prints it, and exits with
// corruptExit's code.
func corruptWriterChild() int {
	r, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	buf := make([]byte, corruptMaxLen)
	var seq uint64
	write := func(n int) error {
		for range n {
			b := buf[:recLen(seq, corruptMaxLen)]
			fillRec(b, 1, seq)
			if _, err := w.Write(b); err != nil {
				return err
			}
			seq++
		}
		return nil
	}
	err = write(envInt("RING_N1", 1000))
	if err == nil {
		pauseHalfway()
		err = write(envInt("RING_N2", 1000))
	}
	return endWriter(w, err)
}

// corruptReaderChild attaches, prints "ready", waits for a byte on stdin,
// then reads slowly (a millisecond's pause every 100 records) until the
// stream ends, checking every record and their order.
func corruptReaderChild() int {
	r, rd, err := childReader(shmbuf.ReaderOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	defer rd.Close()
	fmt.Println("ready")
	var b [1]byte
	os.Stdin.Read(b[:])
	var next uint64
	for {
		rec, err := rd.Next(context.Background())
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "reader after %d records: %v\n", next, err)
			}
			return corruptExit(err)
		}
		_, seq, cerr := checkRec(rec)
		if cerr != nil || seq != next {
			return childFail("reader: record %d: seq %d, %v", next, seq, cerr)
		}
		next++
		if next%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// corruptChild is a started child: its stdin, its stderr, its end.
type corruptChild struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr bytes.Buffer
	done   chan error
}

func startCorruptChild(t *testing.T, role, want string, env ...string) *corruptChild {
	t.Helper()
	c := &corruptChild{done: make(chan error, 1)}
	cmd := childCmd(t, role, env...)
	c.cmd = cmd
	cmd.Stderr = &c.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != want+"\n" {
		t.Fatalf("%s: first line %q, %v; want %q", role, line, err, want)
	}
	c.in = in
	go func() { c.done <- cmd.Wait() }()
	return c
}

func (c *corruptChild) start() { c.in.Write([]byte{1}) }

// wait returns the child's exit code, or fails the test if it is still
// running after d.
func (c *corruptChild) wait(t *testing.T, what string, d time.Duration) int {
	t.Helper()
	select {
	case err := <-c.done:
		if c.stderr.Len() > 0 {
			t.Logf("%s: %s", what, bytes.TrimSpace(c.stderr.Bytes()))
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return 0
	case <-time.After(d):
		t.Errorf("%s still running %v after the corruption: hung", what, d)
		return -1
	}
}

// TestRing_LiveCorruption overwrites, while a writer and a slow follower
// run in child processes, one control word at a time (each in a fresh 64
// KiB ring) with garbage: Tail, reader slot 0's state and start time
// while the stream runs, End after the writer closed and before the
// reader reached it. Field addresses come from the layout overlay, not
// from offsets.
func TestRing_LiveCorruption(t *testing.T) {
	t.Parallel()
	words := []struct {
		name string
		word func(l *layout.Ring) *atomic.Uint64
		// afterWriter corrupts once the writer closed, before the
		// reader starts; otherwise mid-stream.
		afterWriter bool
	}{
		{"tail", func(l *layout.Ring) *atomic.Uint64 { return &l.Ctl.Tail }, false},
		{"reader0-state", func(l *layout.Ring) *atomic.Uint64 { return &l.Readers[0].State }, false},
		{"reader0-start", func(l *layout.Ring) *atomic.Uint64 { return &l.Readers[0].Start }, false},
		{"end", func(l *layout.Ring) *atomic.Uint64 { return &l.Ctl.End }, true},
	}
	const hang = 10 * time.Second
	for _, wd := range words {
		for _, garbage := range []uint64{0x4141414141414141, ^uint64(0)} {
			t.Run(fmt.Sprintf("%s=%#x", wd.name, garbage), func(t *testing.T) {
				t.Parallel()
				_, addr := newRing(t, shmbuf.RingOptions{Size: 64 << 10, MaxRecord: corruptMaxLen})
				l := ringLayout(t, addr)
				n1, n2 := 20000, 100000
				if wd.afterWriter {
					n1, n2 = 500, 500 // the whole stream fits in the ring
				}
				env := []string{"RING_ADDR=" + addr, fmt.Sprint("RING_N1=", n1), fmt.Sprint("RING_N2=", n2)}
				rd := startCorruptChild(t, "corrupt-reader", "ready", env...)
				if !wd.afterWriter {
					rd.start()
				}
				wr := startCorruptChild(t, "corrupt-writer", "half", env...)
				if wd.afterWriter {
					wr.start()
					if code := wr.wait(t, "writer", hang); code != corruptExitOK {
						t.Fatalf("writer exited %d before the corruption", code)
					}
				}
				wd.word(l).Store(garbage)
				t0 := time.Now()
				if wd.afterWriter {
					rd.start()
				} else {
					wr.start()
				}
				var wcode int
				if !wd.afterWriter {
					wcode = wr.wait(t, "writer", hang)
				}
				rcode := rd.wait(t, "reader", hang)
				t.Logf("writer exit %d, reader exit %d, %v after the corruption", wcode, rcode, time.Since(t0).Round(time.Millisecond))
				if wcode != corruptExitOK && wcode != corruptExitCorrupt && wcode != -1 {
					t.Errorf("writer exited %d, want 0 or %d (ErrCorrupt)", wcode, corruptExitCorrupt)
				}
				if rcode != corruptExitOK && rcode != corruptExitCorrupt && rcode != corruptExitLost && rcode != -1 {
					t.Errorf("reader exited %d, want 0, %d (ErrCorrupt) or %d (ErrWriterLost)", rcode, corruptExitCorrupt, corruptExitLost)
				}
				if wcode == corruptExitOK && rcode == corruptExitOK {
					t.Errorf("neither child noticed the corruption")
				}
			})
		}
	}
}
