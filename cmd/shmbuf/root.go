package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shmbuf/shmbuf/internal/bench"
	"github.com/spf13/cobra"
)

// addressHelp is appended to the long help of every command that takes an
// address.
const addressHelp = `
Addresses (default: shared_buffer, the file /dev/shm/shared_buffer):
  NAME, posix:NAME    file /dev/shm/NAME, what shm_open(NAME) opens (posix:/NAME
                      too); shared with C shm_open, Python's
                      multiprocessing.shared_memory, cat and rm
  file:PATH           a regular file anywhere, memory-mapped
  sysv:KEY            System V segment by key (decimal or 0x hex); ipcmk, ipcs
  sysv-id:ID          System V segment by id, as ipcs -m and ipcmk print it
Names: not empty, not . or .., no '/' or NUL, at most 255 bytes.`

// sizeHelp documents what --size accepts.
const sizeHelp = `Sizes: 4096, 64KiB, 4MiB, 1GiB (K, M, G are binary too; KB, MB, GB decimal).`

// streams are a command's standard input, output and error.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// command is the shape of every shmbuf command, as in gh: an options
// struct that the flags fill, a validate step that checks the arguments
// and flags before anything is touched (its errors are usage errors,
// exit 2), and a run step that carries the command out.
type command interface {
	validate(args []string) error
	run(ctx context.Context) error
}

// runE returns the RunE of a command: validate, then run, with the
// errors marked as the command's own, not cobra's parse errors (see
// ranError).
func runE(c command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := c.validate(args)
		if err == nil {
			err = c.run(cmd.Context())
		}
		if err != nil {
			return &ranError{err}
		}
		return nil
	}
}

// run executes the command line args and returns the exit code. Errors are
// printed here, once, as one line on stderr; cobra's own printing and its
// usage dump on errors are silenced. SIGINT and SIGTERM cancel the
// context every command runs with (see interrupted).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(&streams{stdin, stdout, stderr})
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
	var ran *ranError
	if !errors.As(err, &ran) {
		// cobra's parse errors: an unknown flag or command, a wrong
		// number of arguments.
		path := root.Name()
		if cmd != nil {
			path = cmd.CommandPath()
		}
		err = &cmdError{op: opName(path), err: err, usage: true, hint: path}
	}
	var st *statusError
	if !errors.As(err, &st) && !silent(err) {
		fmt.Fprintln(stderr, err)
	}
	return exitCode(err)
}

// opName is the OP of a command's errors: its path without "shmbuf".
func opName(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, "shmbuf"), " ")
}

func newRootCmd(s *streams) *cobra.Command {
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

Exit codes, for every command:
  0    success
  1    the operation failed: no such segment, one that already exists, no
       space, a value too large, a segment of another kind, a lost record
  2    bad usage: an unknown command or flag, a wrong number of arguments,
       an invalid address or flag value, a flag that does not apply to the
       segment's kind; nothing was created or changed
  130  stopped by SIGINT (Ctrl-C); 143: stopped by SIGTERM. A stopped
       command cleans up first: a ring writer writes the input it has read
       and closes, so followers reach end of stream. A second signal ends
       it at once, without cleaning up.
Errors are one line on standard error: shmbuf: COMMAND ADDR: CAUSE.
` + addressHelp,
		Example: `  echo hello | shmbuf write        # creates /dev/shm/shared_buffer
  cat /dev/shm/shared_buffer       # hello
  shmbuf read                      # hello
  shmbuf rm shared_buffer`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate(versionLine)
	root.SetUsageFunc(usage)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		newWriteCmd(s),
		newReadCmd(s),
		newCreateCmd(s),
		newStatCmd(s),
		newLsCmd(s),
		newRmCmd(s),
		newBenchCmd(),
		newBridgeCmd(s),
		newVersionCmd(s),
	)
	completeSegments(root)
	// cobra's completion command, made now rather than when it runs,
	// so that its help can be wrapped like the rest.
	root.InitDefaultCompletionCmd()
	wrapLong(root)
	return root
}

// newBenchCmd is package bench's command, with its errors marked as
// coming from a run (its bad input is a *bench.UsageError, exit 2). An
// interrupted run has cleaned up and has nothing more to say than the
// signal, which gives the exit code.
func newBenchCmd() *cobra.Command {
	b := bench.NewCommand()
	body := b.RunE
	b.RunE = func(cmd *cobra.Command, args []string) error {
		err := body(cmd, args)
		if in := interruptCause(cmd.Context()); in != nil && errors.Is(err, context.Canceled) {
			err = in
		}
		if err != nil {
			t := &target{op: "bench"}
			return &ranError{t.fail(err)}
		}
		return nil
	}
	return b
}
