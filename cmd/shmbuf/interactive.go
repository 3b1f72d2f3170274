package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// interactive stores each line read from the terminal in as the sink
// says (its banner tells the user what that is) until end of input. A
// line that cannot be stored (too large for a fixed region) is reported
// and the session goes on; the exit code then reports the worst failure.
// A signal (Ctrl-C) ends the session like Ctrl-D, with the signal's exit
// code; the terminal's settings are never changed.
func (o *writeOptions) interactive(ctx context.Context, s sink, in io.Reader) error {
	stderr := o.io.err
	fmt.Fprintf(stderr, "shmbuf: writing to %s; Ctrl-D ends.\n", s.banner())
	br := bufio.NewReader(in)
	worst := exitOK
	for {
		if stopped := interruptCause(ctx); stopped != nil {
			fmt.Fprintln(stderr) // the shell's prompt starts on a line of its own
			return stopped
		}
		fmt.Fprint(stderr, "> ")
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if perr := o.fail(s.put(line)); perr != nil {
				fmt.Fprintln(stderr, perr)
				worst = max(worst, exitCode(&ranError{perr}))
			}
		}
		var stopped *interrupted
		switch {
		case errors.As(err, &stopped):
			fmt.Fprintln(stderr)
			return stopped
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
			fmt.Fprintln(stderr)
			if worst != exitOK {
				return &statusError{worst}
			}
			return nil
		case err != nil:
			return fmt.Errorf("reading the terminal: %w", err)
		}
	}
}
