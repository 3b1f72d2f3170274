package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Sizes of the segments write creates when --size does not say.
const (
	defaultRingSize     = 1 << 20
	defaultSnapshotSize = 64 << 10
)

// writeOptions is `shmbuf write`.
type writeOptions struct {
	io    *streams
	flags *pflag.FlagSet
	target

	kindText, sizeText, modeText, waitText, timeoutText, syncText string
	strict, chunks, progress                                      bool

	addr    shmbuf.Address
	kind    shmbuf.Kind // KindUnknown: whatever the segment is
	size    int64       // 0: --size not given
	mode    os.FileMode
	ring    ringSinkOptions
	setMode bool // --mode given for a segment that exists: apply it
	raced   bool // a create lost the race to another process's
}

func newWriteCmd(s *streams) *cobra.Command {
	o := &writeOptions{io: s, target: target{op: "write"}}
	cmd := &cobra.Command{
		Use:   "write [ADDR]",
		Short: "Write standard input into a segment (interactive on a terminal)",
		Long: `Write standard input into the segment at ADDR (default shared_buffer).

From a pipe or a file, the whole input is one value: it replaces the
segment's content (raw) or is published as the new value (snapshot). A
closed or unreadable standard input is an error, and nothing changes.

From a terminal, write is interactive: each line you enter (with its
newline) replaces the content, so a reader in another terminal sees the
latest line (into a ring, each line is one record). Ctrl-D ends.

A ring is different: the input is a stream of records, written as it
arrives, one per line, so that 'shmbuf read' prints back exactly the bytes
written, text or binary. A line longer than the ring's largest record is
split into several records, said once on stderr (--strict refuses it
instead, exit 1). On a ring with policy block, write waits for space while
readers are behind, or, with no reader attached, once the ring is full: it
then says so on stderr after a second, and gives up after --timeout. When
the last writer exits, readers following with --until-end stop.

--chunks makes the input a byte stream instead of lines: records are cut
wherever reads of the input end, up to the largest record, and mean
nothing; 'shmbuf read' gives the bytes back. That is the way to move bulk
data (a file, a video stream) through a ring: one copy, no per-line work,
several records per call. --progress shows on stderr the bytes written and
the rate, like pv (by default with --chunks when stderr is a terminal).

--kind is the kind the segment has, or gets: a segment of another kind is
refused (exit 1), and a missing one is created as that kind, with --size
(ring: 1MiB of data by default; snapshot: values of up to 64KiB). Without
--kind, a missing posix or file segment is created as a raw segment whose
size is its content's (with --size: a fixed-size region), and an existing
one is written as the kind it has: a raw segment of fixed size (System V,
Python's shared_memory, 'shmbuf create --kind raw') in place, zero-padded,
refusing a larger value; a snapshot gets the value published. A System V
segment is created only with --size; its id is printed as ipcmk prints
it. --mode sets the mode of a segment write creates, and changes that of
an existing one you own (write refuses it otherwise, exit 2).

A file: ring is a journal that later readers read back, also after a
reboot, but only what reached the disk: --sync flushes the ring to its
file (msync) when write exits, and --sync=INTERVAL also that often while
records arrive. After a crash of the machine, records written since the
last flush may be missing or torn. A posix or System V ring lives in
memory and survives no reboot.

SIGINT (Ctrl-C) or SIGTERM stops write, with exit code 130 or 143. Into a
ring, the input already read is written first (a partial last line as a
final record) and the writer closes, so followers reach end of stream; a
writer waiting for space gives up and says on stderr how many bytes of
input it could not write. Into a raw segment or a snapshot, input cut
short is not stored.
` + sizeHelp + "\n" + addressHelp,
		Example: `  echo hello | shmbuf write              # /dev/shm/shared_buffer: "hello\n"
  shmbuf write notes < notes.txt
  date | shmbuf write --mode 0644 clock   # readable by everyone
  shmbuf write sysv-id:5 < frame.bin
  shmbuf write sysv:0x1234 --size 4KiB < frame.bin   # creates it, like ipcmk
  shmbuf write                            # a terminal: type lines, Ctrl-D ends
  tail -f app.log | shmbuf write --kind ring logs    # one record per line`,
		Args: maxOneAddr,
		RunE: runE(o),
	}
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.kindText, "kind", kindAuto, "the kind the segment has or gets: raw, snapshot or ring (auto: any, raw when write creates it)")
	f.StringVar(&o.sizeText, "size", "", "the size of a segment write creates: raw, the region; snapshot, the largest value (64KiB); ring, data bytes (1MiB)")
	f.StringVar(&o.modeText, "mode", "0600", "permissions of a segment write creates, or of one you own (octal)")
	f.StringVar(&o.waitText, "wait", "adaptive", "ring: how to wait for space: spin, adaptive or block")
	textVar(f, &o.timeoutText, "timeout", "duration", "", "ring: give up waiting for space after this long, e.g. 10s (exit 1)")
	f.BoolVar(&o.strict, "strict", false, "ring: refuse a line longer than the largest record instead of splitting it")
	f.BoolVar(&o.chunks, "chunks", false, "ring: the input is a byte stream, cut into records of up to the largest record wherever reads end (bulk data at memory speed)")
	f.BoolVar(&o.progress, "progress", false, "ring: show the bytes written and the rate on stderr, like pv (on by default with --chunks when stderr is a terminal)")
	textVar(f, &o.syncText, "sync", "interval", "", "ring: flush the ring to its file (msync) at exit, and with an interval (--sync=5s) also that often while records arrive")
	f.Lookup("sync").NoOptDefVal = syncAtExit
	autoKindChoice.complete(cmd)
	waitChoice.complete(cmd)
	return cmd
}

// ringOnlyFlags are write's flags that only a ring takes.
var ringOnlyFlags = []string{"wait", "timeout", "strict", "sync", "chunks", "progress"}

func (o *writeOptions) validate(args []string) error {
	a, err := parseAddr(o.op, addrArg(args))
	if err != nil {
		return err
	}
	o.addr, o.target.addr = a, a.String()
	if o.kind, err = parseKind(autoKindChoice, o.kindText); err != nil {
		return o.fail(err)
	}
	if o.flags.Changed("size") {
		if o.size, err = parseSize("size", o.sizeText); err != nil {
			return o.fail(err)
		}
	}
	if o.mode, err = parseMode(o.modeText); err != nil {
		return o.fail(err)
	}
	if o.ring.wait, err = parseWait(o.waitText); err != nil {
		return o.fail(err)
	}
	if o.flags.Changed("timeout") {
		if o.ring.timeout, err = parseDuration("timeout", o.timeoutText); err != nil {
			return o.fail(err)
		}
	}
	o.ring.strict = o.strict
	if o.chunks && o.strict {
		return o.usagef("--strict refuses long lines; with --chunks there are no lines")
	}
	o.ring.chunks = o.chunks
	o.ring.tty = isTerminalOut(o.io.err)
	o.ring.progress = o.progress || o.chunks && o.ring.tty
	if o.flags.Changed("sync") {
		o.ring.sync = true
		if o.syncText != syncAtExit {
			if o.ring.syncEvery, err = parseDuration("sync", o.syncText); err != nil {
				return o.fail(err)
			}
		}
	}
	if o.kind != shmbuf.KindUnknown {
		return o.checkRingFlags(o.kind)
	}
	return nil
}

// checkRingFlags refuses the ring's flags for a segment of kind k.
func (o *writeOptions) checkRingFlags(k shmbuf.Kind) error {
	if k == shmbuf.KindRing {
		return nil
	}
	for _, name := range ringOnlyFlags {
		if o.flags.Changed(name) {
			return o.usagef("--%s applies only to a ring, not %v", name, k)
		}
	}
	return nil
}

func (o *writeOptions) run(ctx context.Context) error {
	interactive := isTerminal(o.io.in)
	if !interactive {
		if err := checkInput(o.io.in); err != nil {
			return o.fail(err)
		}
	}
	s, err := o.open(ctx)
	if err != nil {
		return o.fail(err)
	}
	defer s.close()
	if o.chunks && isRing(s) {
		if f := regularFile(o.io.in); f != nil {
			if err := o.applyMode(); err != nil {
				return err
			}
			return o.fail(s.(*ringSink).streamFile(f))
		}
	}
	size := inputChunk
	if o.chunks {
		size = chunkRead
	}
	in := newInputSize(ctx, o.io.in, size)
	defer in.Close()
	switch {
	case interactive:
		if err := o.applyMode(); err != nil {
			return err
		}
		return o.fail(o.interactive(ctx, s, in))
	case isRing(s):
		if err := o.applyMode(); err != nil {
			return err
		}
		return o.fail(s.(*ringSink).stream(in))
	}
	v, err := io.ReadAll(in)
	var stopped *interrupted
	if errors.As(err, &stopped) {
		return stopped // part of a value is not the value: store nothing
	}
	if err != nil {
		return o.failf("reading standard input: %w", err)
	}
	if err := s.put(v); err != nil {
		return o.fail(err)
	}
	return o.applyMode()
}

func isRing(s sink) bool {
	_, ok := s.(*ringSink)
	return ok
}

// applyMode applies --mode to a segment that existed before write.
func (o *writeOptions) applyMode() error {
	if !o.setMode {
		return nil
	}
	err := chmodSegment(o.addr, o.mode)
	if errors.Is(err, errNotOwner) {
		return o.usagef("--mode %s: %w", o.modeText, err)
	}
	return o.fail(err)
}

// open opens the segment at the address as the kind it has or, when
// --kind says, must have; a missing segment is created (see create).
func (o *writeOptions) open(ctx context.Context) (sink, error) {
	info, err := shmbuf.Stat(o.addr.String())
	if errors.Is(err, shmbuf.ErrNotExist) && !o.raced {
		return o.create(ctx)
	}
	if err != nil {
		return nil, err
	}
	k := o.kind
	if k == shmbuf.KindUnknown {
		// A segment shmbuf did not mark (Python's, a C program's, one
		// ipcmk made) is raw bytes.
		k = info.Kind
		if k == shmbuf.KindUnknown {
			k = shmbuf.KindRaw
		}
	}
	if err := o.checkRingFlags(k); err != nil {
		return nil, err
	}
	if o.flags.Changed("mode") {
		if err := checkModeOwner(info); err != nil {
			return nil, o.usagef("--mode %s: %w", o.modeText, err)
		}
		o.setMode = true
	}
	addr := o.addr.String()
	switch k {
	case shmbuf.KindRaw:
		r, err := shmbuf.OpenRaw(addr)
		if errors.Is(err, shmbuf.ErrNotExist) && !o.raced {
			return o.create(ctx) // removed since
		}
		if err != nil {
			return nil, err
		}
		return &rawSink{addr: addr, mode: o.mode, r: r}, nil
	case shmbuf.KindSnapshot:
		s, err := shmbuf.OpenSnapshot(addr)
		if err != nil {
			return nil, err
		}
		return &snapshotSink{addr: addr, s: s}, nil
	case shmbuf.KindRing:
		r, err := shmbuf.OpenRing(addr)
		if err != nil {
			return nil, err
		}
		return newRingSink(ctx, r, o.io.err, o.ring)
	}
	return nil, fmt.Errorf("%w: cannot write kind %v", shmbuf.ErrInvalidArgument, k)
}

// create makes the missing segment write was asked to write: as --kind
// says (raw without it), --size big. A raw posix or file segment without
// --size is created by the first value stored, sized to it, so that input
// that fails creates nothing.
func (o *writeOptions) create(ctx context.Context) (sink, error) {
	o.setMode = false
	spec := segmentSpec{kind: o.kind, size: o.size, mode: o.mode}
	if spec.kind == shmbuf.KindUnknown {
		spec.kind = shmbuf.KindRaw
	}
	if err := o.checkRingFlags(spec.kind); err != nil {
		return nil, err
	}
	addr := o.addr.String()
	switch {
	case spec.kind == shmbuf.KindRaw && spec.size == 0 && o.addr.Backend() != shmbuf.SysV:
		s := &rawSink{addr: addr, mode: o.mode}
		if o.kind == shmbuf.KindUnknown {
			s.reopen = func() (sink, error) {
				o.raced = true
				return o.open(ctx)
			}
		}
		return s, nil
	case spec.kind == shmbuf.KindRaw && spec.size == 0 && o.addr.ID() >= 0:
		return nil, shmbuf.ErrNotExist // an id names a segment that exists
	case spec.kind == shmbuf.KindRaw && spec.size == 0:
		return nil, fmt.Errorf("%w (write creates a System V segment when --size gives its size)", shmbuf.ErrNotExist)
	case spec.kind == shmbuf.KindRing && spec.size == 0:
		spec.size = defaultRingSize
	case spec.kind == shmbuf.KindSnapshot && spec.size == 0:
		spec.size = defaultSnapshotSize
	}
	c, err := spec.create(o.addr, o.io.out)
	if errors.Is(err, shmbuf.ErrExist) && !o.raced {
		// Another process created it since: write that one, as the
		// kind it has.
		o.raced = true
		return o.open(ctx)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case c.raw != nil:
		return &rawSink{addr: addr, mode: o.mode, r: c.raw}, nil
	case c.snap != nil:
		return &snapshotSink{addr: addr, s: c.snap}, nil
	}
	return newRingSink(ctx, c.ring, o.io.err, o.ring)
}
