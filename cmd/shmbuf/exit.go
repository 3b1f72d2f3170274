package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/bench"
)

// Exit codes. A command stopped by a signal exits 128 + its number
// instead (see interrupted).
const (
	exitOK      = 0
	exitFailure = 1 // the command line was fine but the operation failed
	exitUsage   = 2 // the command line is wrong: nothing was created or changed
)

// badUsage are the library's sentinels that say the command line itself
// is wrong (an address, a size or another value that cannot be valid
// whatever the system's state): they exit with exitUsage. Everything
// else that fails (no such segment, one that already exists, no space, a
// value too large, a segment of another kind) is a runtime failure.
var badUsage = []error{
	shmbuf.ErrInvalidAddress, shmbuf.ErrInvalidName, shmbuf.ErrInvalidSize,
	shmbuf.ErrInvalidArgument,
}

// cmdError is a command's failure as it is printed, one line on stderr:
// "shmbuf: OP ADDR: CAUSE", OP being the command and ADDR the address it
// worked on (left out when there is none). The cause of a library error
// about that same address is shown without the library's own "shmbuf:
// OP ADDR:" prefix, so that every error of a command reads the same.
type cmdError struct {
	op    string
	addr  string // canonical, or the argument as given when it did not parse
	err   error
	usage bool   // the command line is wrong: exit 2
	hint  string // a command path: " (see 'PATH --help')" follows
	// quoted is true when addr is an argument that did not parse,
	// already quoted as a Go string.
	quoted bool
}

func (e *cmdError) Error() string {
	var b strings.Builder
	b.WriteString("shmbuf: ")
	if e.op != "" {
		b.WriteString(e.op)
		switch {
		case e.quoted:
			b.WriteString(" " + e.addr)
		case e.addr != "":
			b.WriteString(" " + quoteName(e.addr))
		}
		b.WriteString(": ")
	}
	b.WriteString(oneLine(causeOf(e.err, e.addr)))
	if e.hint != "" {
		b.WriteString(" (see '" + e.hint + " --help')")
	}
	return b.String()
}

func (e *cmdError) Unwrap() error { return e.err }

// causeOf is the text of err after "shmbuf: OP ADDR: ".
func causeOf(err error, addr string) string {
	msg := err.Error()
	var le *shmbuf.Error
	if errors.As(err, &le) {
		// The library's error, perhaps wrapped: its own "shmbuf: OP
		// ADDR:" goes, or becomes "OP ADDR:" for another address.
		cause := le.Err.Error()
		if le.Addr != addr && le.Addr != "" {
			cause = le.Op + " " + quoteName(le.Addr) + ": " + cause
		}
		msg = strings.Replace(msg, le.Error(), cause, 1)
	}
	return msg
}

// oneLine joins the lines of a message (an error from elsewhere may span
// several) so that every error is one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// target is the command and the address it works on: every error it
// reports names them.
type target struct {
	op   string
	addr string
}

// fail makes err the command's error; nil stays nil, and a bare
// interruption (which prints nothing) or an error already made by fail
// stays as it is.
func (t *target) fail(err error) error {
	var ce *cmdError
	if err == nil || silent(err) || errors.As(err, &ce) {
		return err
	}
	return &cmdError{op: t.op, addr: t.addr, err: err}
}

// usagef is a mistake in the command line that the command found (a flag
// that does not apply to this segment): exit 2.
func (t *target) usagef(format string, args ...any) error {
	return &cmdError{op: t.op, addr: t.addr, err: fmt.Errorf(format, args...), usage: true}
}

// failf is a runtime failure the command describes itself: exit 1.
func (t *target) failf(format string, args ...any) error {
	return &cmdError{op: t.op, addr: t.addr, err: fmt.Errorf(format, args...)}
}

// ranError marks an error returned from a command's RunE. Errors without
// it come from cobra's own parsing (an unknown flag or command, a flag
// without its value), which are all usage errors.
type ranError struct{ err error }

func (e *ranError) Error() string { return e.err.Error() }
func (e *ranError) Unwrap() error { return e.err }

// statusError carries an exit code for failures that were already
// reported on stderr (one line each, as they happened), such as the lines
// an interactive write could not store, or the arguments rm could not
// remove.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	// The signal decides, whatever else went wrong: the command did not
	// run to its end because it was asked to stop.
	var in *interrupted
	if errors.As(err, &in) {
		return in.code()
	}
	var st *statusError
	if errors.As(err, &st) {
		return st.code
	}
	var ce *cmdError
	if errors.As(err, &ce) && ce.usage {
		return exitUsage
	}
	var bu *bench.UsageError
	if errors.As(err, &bu) {
		return exitUsage
	}
	var ran *ranError
	if !errors.As(err, &ran) {
		return exitUsage
	}
	for _, s := range badUsage {
		if errors.Is(err, s) {
			return exitUsage
		}
	}
	return exitFailure
}
