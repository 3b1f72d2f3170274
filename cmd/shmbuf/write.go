package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

func newWriteCmd() *cobra.Command {
	var modeFlag, kindFlag, waitFlag string
	cmd := &cobra.Command{
		Use:   "write [ADDR]",
		Short: "Write standard input into a segment (interactive on a terminal)",
		Long: `Write standard input into the segment at ADDR (default shared_buffer).

From a pipe or a file, the whole input is one value: it replaces the
segment's content (raw) or is published as the new value (snapshot).

From a terminal, write is interactive: each line you enter (with its
newline) replaces the content, so a reader in another terminal sees the
latest line. Ctrl-D ends.

A missing posix or file segment is created as a resizable raw segment whose
size is its content's size, with --mode permissions (default 0600). An
existing segment is written as the kind it has: a raw segment of fixed size
(System V, Python's shared_memory, 'shmbuf create --kind raw') is written in
place and zero-padded, and a value larger than it is refused; a snapshot
gets the value published. System V segments are not created by write: use
'shmbuf create sysv:KEY --size N' or ipcmk.

A ring is different: the input is a stream of records, written as it
arrives, each ending at a newline or at the ring's largest record size, so
that 'shmbuf read' prints back exactly the bytes written, text or binary.
On a ring with policy block, write waits for space while readers are
behind (or, with no reader attached, once the ring is full). When the last
writer exits, readers following the ring (read -f) reach end of stream.

SIGINT (Ctrl-C) or SIGTERM stops write, with exit code 130 or 143. Into a
ring, the input already read is written first (a partial last line as a
final record) and the writer closes, so followers reach end of stream; a
writer waiting for space gives up and says on stderr how many bytes of
input it could not write. Into a raw segment or a snapshot, input cut
short is not stored.
` + addressHelp,
		Example: `  echo hello | shmbuf write                 # /dev/shm/shared_buffer now holds "hello\n"
  shmbuf write notes < notes.txt
  date | shmbuf write --mode 0644 clock      # readable by everyone
  shmbuf write sysv-id:5 < frame.bin
  shmbuf write                               # on a terminal: type lines, Ctrl-D ends
  tail -f app.log | shmbuf write logs        # a ring: one record per line`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			a, err := parseAddr(addrArg(args))
			if err != nil {
				return err
			}
			mode, err := parseMode(modeFlag)
			if err != nil {
				return err
			}
			want, err := parseKindFlag(kindFlag)
			if err != nil {
				return err
			}
			wait, err := shmbuf.ParseWait(waitFlag)
			if err != nil {
				return err
			}
			s, err := openSink(cmd.Context(), a, want, mode, sinkOptions{wait: wait, waitSet: cmd.Flags().Changed("wait")})
			if err != nil {
				return err
			}
			defer s.close()
			stdin := cmd.InOrStdin()
			in := newInput(cmd.Context(), stdin)
			defer in.Close()
			if isTerminal(stdin) {
				return writeInteractive(cmd, a, s, in)
			}
			if st, ok := s.(streamSink); ok {
				return st.stream(in)
			}
			v, err := io.ReadAll(in)
			var stopped *interrupted
			if errors.As(err, &stopped) {
				return stopped // part of a value is not the value: store nothing
			}
			if err != nil {
				return &shmbuf.Error{Op: "write", Addr: a.String(), Err: fmt.Errorf("reading standard input: %w", err)}
			}
			return s.put(v)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&modeFlag, "mode", "0600", "permissions of a segment write creates (octal)")
	f.StringVar(&waitFlag, "wait", "adaptive", "ring: how to wait for space: spin, adaptive or block")
	f.StringVar(&kindFlag, "kind", kindAuto, "refuse unless the segment is this kind: raw, snapshot or ring (auto: any)")
	return cmd
}

// writeInteractive stores each line read from the terminal in as the
// segment's value until end of input. A line that cannot be stored (too
// large for a fixed region) is reported and the session goes on; the exit
// code then reports the worst failure. A signal (Ctrl-C) ends the session
// like Ctrl-D, with the signal's exit code; the terminal's settings are
// never changed.
func writeInteractive(cmd *cobra.Command, a shmbuf.Address, s sink, in io.Reader) error {
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "shmbuf: writing to %s (%s). Each line you enter replaces its content; Ctrl-D ends.\n", a, s.kind())
	br := bufio.NewReader(in)
	worst := exitOK
	for {
		if stopped := interruptCause(cmd.Context()); stopped != nil {
			fmt.Fprintln(stderr) // the shell's prompt starts on a line of its own
			return stopped
		}
		fmt.Fprint(stderr, "> ")
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if perr := s.put(line); perr != nil {
				fmt.Fprintln(stderr, errorLine(cmd.CommandPath(), &ranError{perr}))
				worst = max(worst, exitCode(&ranError{perr}))
			}
		}
		var stopped *interrupted
		if errors.As(err, &stopped) {
			fmt.Fprintln(stderr)
			return stopped
		}
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(stderr)
			break
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				break
			}
			return &shmbuf.Error{Op: "write", Addr: a.String(), Err: fmt.Errorf("reading the terminal: %w", err)}
		}
	}
	if worst != exitOK {
		return &statusError{worst}
	}
	return nil
}
