package main

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// followPoll is how often `read -f` looks for a new snapshot generation.
// A snapshot has no wake-up word: its writers never make a system call.
const followPoll = 10 * time.Millisecond

type readOptions struct {
	follow bool
	count  int
	wait   shmbuf.WaitStrategy // ring only
	from   shmbuf.StartPosition
}

func newReadCmd() *cobra.Command {
	var kindFlag, waitFlag, fromFlag string
	var o readOptions
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

-f (--follow) keeps reading until --count values or records were printed
or until stopped by SIGINT (Ctrl-C, exit code 130) or SIGTERM (143), after
printing what it has read:
  snapshot  the current value, then each newer value it sees. It polls
            every 10ms, so values published faster than that are skipped:
            a snapshot keeps only the latest.
  ring      every record, waiting for new ones (--wait: spin burns a core
            for the lowest latency, block sleeps at once, adaptive spins
            briefly then sleeps), until the last writer closes the stream.
            A stream that already ended (its last writer exited) and has
            nothing new ends at once: start the reader first.
A raw segment has no change notification and cannot be followed.

A ring reader takes a reader slot while it runs. On a ring with policy
block, the records it read are released when it exits, so the next reader
starts after them. On a ring with policy overwrite, a reader that falls a
lap behind is told on stderr how many records and bytes it lost, goes on
from the oldest record still there, and exits with 1.
` + addressHelp,
		Example: `  shmbuf read                     # /dev/shm/shared_buffer
  shmbuf read sysv-id:5 | xxd
  shmbuf read -f status           # a snapshot: print each new value
  shmbuf read -f --count 1 status # wait for a value, print it, exit
  shmbuf read -f frames | consumer  # a ring: every record until the stream ends
  shmbuf read -f --from latest --wait spin ticks`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			a, err := parseAddr(addrArg(args))
			if err != nil {
				return err
			}
			want, err := parseKindFlag(kindFlag)
			if err != nil {
				return err
			}
			if o.count < 0 {
				return usagef("--count %d: must be zero (no limit) or more", o.count)
			}
			if o.count > 0 && !o.follow {
				return usagef("--count applies only with -f (--follow)")
			}
			if o.wait, err = shmbuf.ParseWait(waitFlag); err != nil {
				return err
			}
			if o.from, err = shmbuf.ParseFrom(fromFlag); err != nil {
				return err
			}
			k := want
			if k == shmbuf.KindUnknown {
				if k, err = detectKind("read", a); err != nil {
					return err
				}
			}
			if k != shmbuf.KindRing {
				for _, name := range []string{"wait", "from"} {
					if cmd.Flags().Changed(name) {
						return usagef("shmbuf: read %s: --%s applies only to a ring, not %v", a, name, kindName(k.String()))
					}
				}
			}
			out := cmd.OutOrStdout()
			switch k {
			case shmbuf.KindUnknown, shmbuf.KindRaw:
				if o.follow {
					return usagef("shmbuf: read %s: -f follows a snapshot or a ring; this raw segment has no change notification", a)
				}
				return readRaw(a, out)
			case shmbuf.KindSnapshot:
				return readSnapshot(cmd.Context(), a, out, o)
			case shmbuf.KindRing:
				return readRing(cmd, a, o)
			}
			return usagef("shmbuf: read %s: unsupported kind %v", a, k)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new values (snapshot, ring)")
	f.IntVar(&o.count, "count", 0, "with -f: exit after printing this many values (0: until interrupted)")
	f.StringVar(&waitFlag, "wait", "adaptive", "ring: how to wait for records: spin, adaptive or block")
	f.StringVar(&fromFlag, "from", "oldest", "ring: start at the oldest record still there or after the latest")
	f.StringVar(&kindFlag, "kind", kindAuto, "refuse unless the segment is this kind: raw, snapshot or ring (auto: any)")
	return cmd
}

func readRaw(a shmbuf.Address, out io.Writer) error {
	r, err := shmbuf.OpenRawReadOnly(a.String())
	if err != nil {
		return err
	}
	defer r.Close()
	v, err := r.Load()
	if err != nil {
		return err
	}
	return writeOut(a, out, v)
}

func readSnapshot(ctx context.Context, a shmbuf.Address, out io.Writer, o readOptions) error {
	s, err := shmbuf.OpenSnapshot(a.String())
	if err != nil {
		return err
	}
	defer s.Close()
	if !o.follow {
		v, err := s.Load(nil)
		if err != nil {
			return err
		}
		return writeOut(a, out, v)
	}
	var buf []byte
	var last uint64
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for printed := 0; o.count == 0 || printed < o.count; {
		if gen := s.Generation(); gen != last {
			v, at, err := loadStable(s, buf, gen)
			if err != nil {
				return err
			}
			buf = v
			last = at
			if err := writeOut(a, out, v); err != nil {
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

// loadStable loads the snapshot's value and the generation it belongs to:
// a value loaded while the generation stayed the same is that
// generation's. Under a writer faster than this loop it gives up after a
// few tries and reports the newer generation, so a value may be skipped
// but is never printed twice.
func loadStable(s *shmbuf.Snapshot, buf []byte, gen uint64) ([]byte, uint64, error) {
	for range 100 {
		v, err := s.Load(buf)
		if err != nil {
			return nil, 0, err
		}
		after := s.Generation()
		if after == gen {
			return v, gen, nil
		}
		buf, gen = v, after
	}
	v, err := s.Load(buf)
	return v, s.Generation(), err
}

// writeOut writes a value to standard output, naming the address when
// that fails.
func writeOut(a shmbuf.Address, out io.Writer, v []byte) error {
	if _, err := out.Write(v); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return nil // the consumer went away; nothing left to do
		}
		return &shmbuf.Error{Op: "read", Addr: a.String(), Err: err}
	}
	return nil
}
