package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// interrupted is the cause of the context every command runs with once
// SIGINT or SIGTERM arrived. A command stops what it waits for, cleans up
// (a ring writer closes, so followers see a clean end of stream) and
// returns it, alone when there is nothing to report or wrapped in the
// error it reports; the process exits 128 + the signal's number, the
// shell's convention: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
type interrupted struct{ sig syscall.Signal }

func (e *interrupted) Error() string { return "interrupted by " + unix.SignalName(e.sig) }

// code is the exit code.
func (e *interrupted) code() int { return 128 + int(e.sig) }

// Is lets errors.Is(err, context.Canceled) hold for it, as it does for
// every cause of a cancelled context.
func (e *interrupted) Is(target error) bool { return target == context.Canceled }

// notifyInterrupt returns a copy of parent that is cancelled with an
// *interrupted cause when the process receives SIGINT or SIGTERM. Until
// the first one, those signals no longer kill the process: every command
// must honour the context. A second signal kills it as usual, so that a
// command blocked where the context cannot reach (a write to a full pipe
// nobody reads) can still be stopped, without its cleanup. stop ends the
// watching and returns the signal that arrived, or nil.
func notifyInterrupt(parent context.Context) (ctx context.Context, stop func() *interrupted) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-sigs:
			cancel(&interrupted{s.(syscall.Signal)})
			signal.Stop(sigs)
		case <-quit:
		}
	}()
	return ctx, func() *interrupted {
		signal.Stop(sigs)
		close(quit)
		<-done
		select {
		case s := <-sigs: // arrived as the command returned
			cancel(&interrupted{s.(syscall.Signal)})
		default:
		}
		var in *interrupted
		errors.As(context.Cause(ctx), &in)
		cancel(nil)
		return in
	}
}

// interruptCause returns the *interrupted cause of ctx, or nil when ctx
// was not ended by a signal.
func interruptCause(ctx context.Context) *interrupted {
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		return in
	}
	return nil
}

// withInterrupt makes err, the result of a command that a signal
// interrupted, carry the signal's exit code: a command that finished (or
// failed on its own) as the signal arrived exits like one that stopped
// because of it.
func withInterrupt(err error, in *interrupted) error {
	var already *interrupted
	switch {
	case in == nil || errors.As(err, &already):
		return err
	case err == nil:
		return in
	}
	return &interruptedError{err: err, in: in}
}

// interruptedError is an error a command returned after a signal arrived
// that does not say so itself: its message is the error's, its exit code
// the signal's.
type interruptedError struct {
	err error
	in  *interrupted
}

func (e *interruptedError) Error() string   { return e.err.Error() }
func (e *interruptedError) Unwrap() []error { return []error{e.err, e.in} }

// silent reports whether err needs no line on stderr: it is a bare
// interruption (the user asked the command to stop; nothing else went
// wrong), or a join of such errors.
func silent(err error) bool {
	switch e := err.(type) {
	case *interrupted:
		return true
	case *ranError:
		return silent(e.err)
	case interface{ Unwrap() []error }:
		if _, ok := err.(*interruptedError); ok {
			return false
		}
		for _, c := range e.Unwrap() {
			if c != nil && !silent(c) {
				return false
			}
		}
		return true
	}
	return false
}
