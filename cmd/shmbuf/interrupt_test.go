package main

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"go.uber.org/goleak"
)

// TestExitCode_Interrupted checks the exit code and the stderr rule of a
// command that a signal stopped, however its error reached run.
func TestExitCode_Interrupted(t *testing.T) {
	term := &interrupted{syscall.SIGTERM}
	other := &shmbuf.Error{Op: "write", Addr: "posix:x", Err: shmbuf.ErrInvalidSize}
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		silent bool
	}{
		{"bare", term, 143, true},
		{"from a command", &ranError{term}, 143, true},
		{"joined with nothing", &ranError{errors.Join(nil, term)}, 143, true},
		{"SIGINT", &interrupted{syscall.SIGINT}, 130, true},
		{"wrapped in a report", &ranError{&shmbuf.Error{Op: "write", Addr: "posix:x", Err: term}}, 143, false},
		{"finished as it arrived", withInterrupt(nil, term), 143, true},
		{"failed as it arrived", withInterrupt(&ranError{other}, term), 143, false},
		{"no signal", withInterrupt(&ranError{other}, nil), exitUsage, false},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.code)
		}
		if got := silent(tc.err); got != tc.silent {
			t.Errorf("%s: silent(%v) = %v, want %v", tc.name, tc.err, got, tc.silent)
		}
	}
	if got := withInterrupt(&ranError{other}, term).Error(); got != other.Error() {
		t.Errorf("an error that came with a signal reads %q, want %q", got, other.Error())
	}
}

// TestInput_Cancel reads from a pipe that stays open: after the context
// ends, Read returns the bytes already read, then the cause, at once; the
// reading goroutine ends when its read(2) returns.
func TestInput_Cancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cause := &interrupted{syscall.SIGINT}
	ctx, cancel := context.WithCancelCause(context.Background())
	in := newInputSize(ctx, r, inputChunk)
	if _, err := w.WriteString("already read"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := in.Read(buf); err != nil || string(buf[:n]) != "alrea" {
		t.Fatalf("Read = %q, %v; want %q", buf[:n], err, "alrea")
	}
	cancel(cause)
	done := make(chan struct{})
	var rest []byte
	go func() {
		defer close(done)
		rest, err = io.ReadAll(in)
	}()
	select {
	case <-done:
	case <-time.After(bgDeadline):
		t.Fatal("Read still blocked after the context ended")
	}
	if string(rest) != "dy read" || !errors.Is(err, cause) {
		t.Errorf("after the cancel: %q, %v; want %q, %v", rest, err, "dy read", cause)
	}
	in.Close()
	w.Close() // the goroutine's read(2) returns (EOF) and it exits
}

// endless is an input that never pauses, like `yes`.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

// TestInput_CancelEndless cancels while input keeps coming faster than it
// is read: Read still ends, after the chunk it was returning and at most
// one more.
func TestInput_CancelEndless(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancelCause(context.Background())
	in := newInputSize(ctx, endless{}, inputChunk)
	defer in.Close()
	var copied atomic.Int64
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := in.Read(buf)
			copied.Add(int64(n))
			time.Sleep(20 * time.Microsecond) // slower than the input: a chunk is always ready
			if err != nil {
				done <- err
				return
			}
		}
	}()
	waitFor(t, "input flows", func() bool { return copied.Load() > 4*inputChunk })
	cause := &interrupted{syscall.SIGTERM}
	cancel(cause)
	at := copied.Load()
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Errorf("Read ended with %v, want %v", err, cause)
		}
		if after := copied.Load() - at; after > 2*inputChunk {
			t.Errorf("Read returned %d bytes after the cancel, want at most two chunks (%d)", after, 2*inputChunk)
		}
	case <-time.After(bgDeadline):
		t.Fatal("Read did not end after the context ended")
	}
}
