package main

import (
	"errors"
	"fmt"
	"github.com/shmbuf/shmbuf/internal/bench"
	"strings"

	"github.com/shmbuf/shmbuf"
)

// Exit codes. A command stopped by a signal exits 128 + its number
// instead (see interrupted).
const (
	exitOK      = 0
	exitFailure = 1 // the command was fine but the operation failed
	exitUsage   = 2 // bad usage or bad input: nothing was created or changed
)

// badInput are the library's sentinels that mean the caller asked for
// something impossible rather than that the system failed: they exit with
// exitUsage.
var badInput = []error{
	shmbuf.ErrInvalidAddress, shmbuf.ErrInvalidName, shmbuf.ErrInvalidSize,
	shmbuf.ErrInvalidArgument, shmbuf.ErrExist, shmbuf.ErrNoSpace,
	shmbuf.ErrTooLarge, shmbuf.ErrSymlink, shmbuf.ErrNotRegular,
	shmbuf.ErrNotShmbuf, shmbuf.ErrVersion, shmbuf.ErrWrongKind,
}

// usageError is a mistake in how a command was called that the command
// itself found (a bad --mode, a flag that does not apply to this kind).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// ranError marks an error returned from a command's RunE. Errors without
// it come from cobra's own parsing (unknown flag or command, wrong number
// of arguments, a required flag missing), which are all usage errors.
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
	var u *usageError
	if errors.As(err, &u) {
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
	for _, s := range badInput {
		if errors.Is(err, s) {
			return exitUsage
		}
	}
	return exitFailure
}

// errorLine renders err as the one line printed on stderr. Library errors
// already read "shmbuf: OP ADDR: CAUSE"; the rest get the command's name
// in front, and cobra's parse errors a pointer to --help.
func errorLine(cmdPath string, err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if !strings.HasPrefix(msg, "shmbuf:") && !strings.HasPrefix(msg, "shmbuf ") {
		msg = cmdPath + ": " + msg
	}
	var ran *ranError
	if !errors.As(err, &ran) {
		msg += " (see '" + cmdPath + " --help')"
	}
	return msg
}
