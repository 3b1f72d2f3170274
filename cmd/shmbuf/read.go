package main

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// followPoll is how often `read -f` looks for a new snapshot generation:
// a snapshot has no wake-up word to sleep on, since its writers never
// make a system call. (A ring reader sleeps on the ring's own word, also
// between streams.)
const followPoll = 10 * time.Millisecond

// readOptions is `shmbuf read`.
type readOptions struct {
	io    *streams
	flags *pflag.FlagSet
	target

	kindText, waitText, fromText, countText string
	follow, untilEnd, progress              bool

	addr  shmbuf.Address
	kind  shmbuf.Kind
	count int                 // with -f or --until-end: stop after this many (0: no limit)
	wait  shmbuf.WaitStrategy // ring only
	from  shmbuf.StartPosition
}

func newReadCmd(s *streams) *cobra.Command {
	o := &readOptions{io: s, target: target{op: "read"}}
	cmd := &cobra.Command{
		Use:   "read [ADDR]",
		Short: "Print a segment's content on standard output",
		Long: `Print the content of the segment at ADDR (default shared_buffer) on
standard output, as the kind it has:

  raw       the bytes, read under a shared flock so a concurrent write is
            never seen half done (System V segments have no file to lock);
            trailing NUL padding of a fixed-size region is trimmed
  snapshot  the newest complete value
  ring      the records there now, from the oldest (--from latest: none
            of them, only new ones), each exactly as written, then exit

-f (--follow) keeps printing, like tail -f, until --count values or
records were printed or until stopped by SIGINT (Ctrl-C, exit code 130)
or SIGTERM (143), after printing what it has read:
  snapshot  the current value, then each newer value it sees. It polls
            every 10ms, so values published faster than that are skipped:
            a snapshot keeps only the latest.
  ring      every record, waiting for new ones (--wait: spin burns a core
            for the lowest latency, block sleeps at once, adaptive spins
            briefly then sleeps), across writers coming and going: when
            the last writer closes, it waits for the next one.
A raw segment has no change notification and cannot be followed.

--until-end reads a ring like -f but stops at the end of the stream, when
its last writer closes: for pipelines that must end, as in
'shmbuf read --until-end logs | consumer'. On a stream that already ended
(its last writer exited) it prints what the ring holds, then ends. A
stream whose writers died ends with an error (exit 1).

Reading a ring consumes nothing: a ring keeps its records until a writer
needs their space, so every read prints what it holds (--from oldest,
the default, replays all of it), and a file: ring can be read back after
its writers exited. A ring reader takes a reader slot while it runs. On
a ring with policy block, writers reuse the space of records only once
some reader has read them and no attached reader still needs them (a
reader --from latest has not read the records before its start). On a
ring with policy overwrite, writers reuse the oldest space; a reader
that falls a lap behind is told on stderr how many records and bytes it
lost, goes on from the oldest record still there, and exits with 1.

Without write permission on a ring (another user's, created with --mode
0644) read falls back to an observer and says so on stderr: it takes no
reader slot and holds no writer back, so under either policy writers
may overwrite records before it reads them; it reports those as a
lapped reader does, and sees new records up to 20ms late.

A ring reader takes every record ready in one call and writes large
batches straight from the ring with one writev(2), so bulk data ('shmbuf
write --chunks') moves at memory speed. --progress shows on stderr the
bytes read and the rate, like pv (by default with -f or --until-end when
stderr is a terminal and standard output is not).
` + addressHelp,
		Example: `  shmbuf read                     # /dev/shm/shared_buffer
  shmbuf read sysv-id:5 | xxd
  shmbuf read -f status           # a snapshot: print each new value
  shmbuf read -f --count 1 status # wait for a value, print it, exit
  shmbuf read -f logs             # a ring: every record, like tail -f
  shmbuf read --until-end frames | consumer  # until the stream ends
  shmbuf read -f --from latest --wait spin ticks`,
		Args: maxOneAddr,
		RunE: runE(o),
	}
	f := cmd.Flags()
	o.flags = f
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new values or records until interrupted, like tail -f")
	f.BoolVar(&o.untilEnd, "until-end", false, "ring: print every record until the stream ends, then exit")
	f.BoolVar(&o.progress, "progress", false, "ring: show the bytes read and the rate on stderr, like pv (on by default with -f when stderr is a terminal and standard output is not)")
	textVar(f, &o.countText, "count", "int", "0", "with -f or --until-end: exit after printing this many values or records (0: no limit)")
	f.StringVar(&o.waitText, "wait", "adaptive", "ring: how to wait for records: spin, adaptive or block")
	f.StringVar(&o.fromText, "from", "oldest", "ring: start at the oldest record still there or after the latest")
	f.StringVar(&o.kindText, "kind", kindAuto, "the kind the segment must have: raw, snapshot or ring (auto: any)")
	autoKindChoice.complete(cmd)
	waitChoice.complete(cmd)
	fromChoice.complete(cmd)
	return cmd
}

// ringReadFlags are read's flags that only a ring takes.
var ringReadFlags = []string{"until-end", "wait", "from", "progress"}

func (o *readOptions) validate(args []string) error {
	a, err := parseAddr(o.op, addrArg(args))
	if err != nil {
		return err
	}
	o.addr, o.target.addr = a, a.String()
	if o.kind, err = parseKind(autoKindChoice, o.kindText); err != nil {
		return o.fail(err)
	}
	if o.count, err = parseCount("count", o.countText, "no limit"); err != nil {
		return o.fail(err)
	}
	if o.count > 0 && !o.follow && !o.untilEnd {
		return o.usagef("--count applies only with -f (--follow) or --until-end")
	}
	if o.wait, err = parseWait(o.waitText); err != nil {
		return o.fail(err)
	}
	if o.from, err = parseFrom(o.fromText); err != nil {
		return o.fail(err)
	}
	return nil
}

func (o *readOptions) run(ctx context.Context) error {
	k := o.kind
	if k == shmbuf.KindUnknown {
		info, err := shmbuf.Stat(o.addr.String())
		if err != nil {
			return o.fail(err)
		}
		k = info.Kind
	}
	if k != shmbuf.KindRing {
		for _, name := range ringReadFlags {
			if o.flags.Changed(name) {
				return o.usagef("--%s applies only to a ring, not %v", name, k)
			}
		}
	}
	switch k {
	case shmbuf.KindUnknown, shmbuf.KindRaw:
		if o.follow {
			return o.usagef("-f follows a snapshot or a ring; this raw segment has no change notification")
		}
		return o.fail(o.readRaw())
	case shmbuf.KindSnapshot:
		return o.fail(o.readSnapshot(ctx))
	}
	return o.fail(o.readRing(ctx))
}

func (o *readOptions) readRaw() error {
	r, err := shmbuf.OpenRawReadOnly(o.addr.String())
	if err != nil {
		return err
	}
	defer r.Close()
	v, err := r.Load()
	if err != nil {
		return err
	}
	return writeOut(o.io.out, v)
}

func (o *readOptions) readSnapshot(ctx context.Context) error {
	s, err := shmbuf.OpenSnapshot(o.addr.String())
	if err != nil {
		return err
	}
	defer s.Close()
	if !o.follow {
		v, _, err := s.Load(nil)
		if err != nil {
			return err
		}
		return writeOut(o.io.out, v)
	}
	var buf []byte
	var last uint64 // the generation printed last
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for printed := 0; o.count == 0 || printed < o.count; {
		// Generation is a load of one word; Load copies the value.
		if s.Generation() != last {
			v, gen, err := s.Load(buf)
			if err != nil {
				return err
			}
			buf, last = v, gen
			if err := writeOut(o.io.out, v); err != nil {
				return err
			}
			printed++
			continue
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx) // interrupted: the normal end of following
		case <-tick.C:
		}
	}
	return nil
}

// writeOut writes a value to standard output. A consumer that went away
// (EPIPE) leaves nothing to do: not an error.
func writeOut(out io.Writer, v []byte) error {
	if _, err := out.Write(v); err != nil && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	return nil
}
