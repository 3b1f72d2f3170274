package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/shmbuf/shmbuf/internal/bench"
	"io"
	"strings"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// addressHelp is appended to the long help of every command that takes an
// address.
const addressHelp = `
Addresses (default: shared_buffer, the file /dev/shm/shared_buffer):
  NAME, posix:NAME    file /dev/shm/NAME, what shm_open(NAME) opens; shared with
                      C shm_open, Python multiprocessing.shared_memory, cat, rm
  file:PATH           a regular file anywhere, memory-mapped
  sysv:KEY            System V segment by key (decimal or 0x hex); ipcmk, ipcs
  sysv-id:ID          System V segment by id, as ipcs -m and ipcmk print it
Names: not empty, not . or .., no '/' or NUL, at most 255 bytes.`

// sizeHelp documents what --size accepts.
const sizeHelp = `Sizes: 4096, 64KiB, 4MiB, 1GiB (K, M, G are binary too; KB, MB, GB decimal).`

// run executes the command line args and returns the exit code. Errors are
// printed here, once, as one line on stderr; cobra's own printing and its
// usage dump on errors are silenced. SIGINT and SIGTERM cancel the
// context every command runs with (see interrupted).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stopSignals := notifyInterrupt(context.Background())
	cmd, err := root.ExecuteContextC(ctx)
	err = withInterrupt(err, stopSignals())
	if err == nil {
		return exitOK
	}
	var st *statusError
	if !errors.As(err, &st) && !silent(err) {
		path := "shmbuf"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintln(stderr, errorLine(path, err))
	}
	return exitCode(err)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "shmbuf",
		Short: "Shared-memory buffers between processes, from the shell",
		Long: `shmbuf moves data between processes on one Linux machine through shared
memory: one process writes a segment, others read it.

Kinds of segment:
  raw       plain bytes, no header; cat /dev/shm/NAME shows exactly what was
            written. Writers and readers take flock (System V: no lock).
  snapshot  the latest value; readers never block the writer (sequence lock).
  ring      a stream of records for several writers and readers.

Exit codes: 0 success, 1 runtime failure (including "no such segment"),
2 bad usage or bad input (nothing was created or changed), 130 stopped by
SIGINT (Ctrl-C), 143 stopped by SIGTERM. A stopped command cleans up first:
a ring writer writes the input it has read and closes, so followers reach
end of stream. A second signal ends it at once, without cleaning up.
` + addressHelp,
		Example: `  echo hello | shmbuf write        # creates /dev/shm/shared_buffer
  cat /dev/shm/shared_buffer       # hello
  shmbuf read                      # hello
  shmbuf rm shared_buffer`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		newWriteCmd(),
		newReadCmd(),
		newCreateCmd(),
		newStatCmd(),
		newLsCmd(),
		newRmCmd(),
		newBenchCmd(),
	)
	return root
}

// newBenchCmd is package bench's command, with its errors marked as
// coming from a run (its bad input is a *bench.UsageError, exit 2). An
// interrupted run has cleaned up and has nothing more to say than the
// signal, which gives the exit code.
func newBenchCmd() *cobra.Command {
	b := bench.NewCommand()
	body := b.RunE
	b.RunE = runE(func(cmd *cobra.Command, args []string) error {
		err := body(cmd, args)
		if in := interruptCause(cmd.Context()); in != nil && errors.Is(err, context.Canceled) {
			return in
		}
		return err
	})
	return b
}

// runE adapts a command body so that its errors are told apart from
// cobra's parse errors (see ranError).
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return &ranError{err}
		}
		return nil
	}
}

// addrArg returns the first argument or, without one, the default
// address.
func addrArg(args []string) string {
	if len(args) == 0 {
		return shmbuf.DefaultName
	}
	return args[0]
}

// parseAddr parses an address given on the command line. Unlike
// ParseAddress, an empty argument is an invalid name, not the default: the
// default is for an argument left out, not for "". A path where a name was
// expected gets a hint.
func parseAddr(s string) (shmbuf.Address, error) {
	if s == "" {
		return shmbuf.Address{}, &shmbuf.Error{Op: "parse address", Addr: `""`, Err: fmt.Errorf("%w (name is empty)", shmbuf.ErrInvalidName)}
	}
	a, err := shmbuf.ParseAddress(s)
	if err != nil && errors.Is(err, shmbuf.ErrInvalidName) && strings.Contains(s, "/") {
		return a, fmt.Errorf("%w; for /dev/shm/NAME give NAME, for another path file:PATH", err)
	}
	return a, err
}

// detectKind is shmbuf.DetectKind with errors naming the command's
// operation rather than the stat it does underneath.
func detectKind(op string, a shmbuf.Address) (shmbuf.Kind, error) {
	k, err := shmbuf.DetectKind(a.String())
	var e *shmbuf.Error
	if errors.As(err, &e) && e.Op == "stat" {
		e.Op = op
	}
	return k, err
}
