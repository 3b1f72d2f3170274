package main

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// rmOptions is `shmbuf rm`.
type rmOptions struct {
	io *streams
	target
	force, stale bool
	match        string

	addrs []shmbuf.Address
}

func newRmCmd(s *streams) *cobra.Command {
	o := &rmOptions{io: s, target: target{op: "rm"}}
	cmd := &cobra.Command{
		Use:   "rm [-f] ADDR... | --stale [--match GLOB]",
		Short: "Remove segments",
		Long: `Remove each segment named. For a posix segment this is the same as
rm /dev/shm/NAME: processes that have it mapped keep their mapping. A
System V segment is marked for removal and freed when the last process
detaches. A symbolic link at a segment's path is refused and its target is
not touched.

Every address is checked before anything is removed: one malformed address
removes nothing. A segment that cannot be removed is reported and the rest
are still removed; the exit code is then the worst failure's. -f (--force)
ignores segments that do not exist, as rm -f does.

--stale removes every stale segment instead (see shmbuf ls): snapshots and
rings whose recorded processes are all dead and that no live process maps,
holds open or attaches. Each is checked again just before its removal, and
each removal is printed. --match GLOB limits it to /dev/shm names (or
System V keys written 0x%08x) that match the shell pattern GLOB.
` + addressHelp,
		Example: `  shmbuf rm shared_buffer
  shmbuf rm frames status sysv-id:5
  shmbuf rm -f maybe-there
  shmbuf rm --stale
  shmbuf rm --stale --match 'frames-*'`,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "f", false, "ignore segments that do not exist")
	f.BoolVar(&o.stale, "stale", false, "remove every stale snapshot and ring instead of named segments")
	f.StringVar(&o.match, "match", "*", "with --stale: only names (or System V keys) matching this shell pattern")
	return cmd
}

func (o *rmOptions) validate(args []string) error {
	if o.stale {
		if len(args) > 0 {
			return o.usagef("--stale removes every stale segment and takes no addresses")
		}
		if _, err := path.Match(o.match, ""); err != nil {
			return o.fail(badArg("match", o.match, "a shell pattern such as 'frames-*'"))
		}
		return nil
	}
	if len(args) == 0 && !o.force {
		return o.usagef("ADDR is missing")
	}
	for _, s := range args {
		a, err := parseAddr(o.op, s)
		if err != nil {
			return err
		}
		o.addrs = append(o.addrs, a)
	}
	return nil
}

func (o *rmOptions) run(context.Context) error {
	if o.stale {
		return o.removeStale()
	}
	var errs []error
	for _, a := range o.addrs {
		err := shmbuf.RemoveSegment(a)
		if err != nil && !(o.force && errors.Is(err, shmbuf.ErrNotExist)) {
			t := target{op: o.op, addr: a.String()}
			errs = append(errs, t.fail(err))
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	worst := exitOK
	for _, err := range errs {
		fmt.Fprintln(o.io.err, err)
		worst = max(worst, exitCode(&ranError{err}))
	}
	return &statusError{worst}
}

// removeStale removes the segments ls marks stale, re-checking each one
// just before removing it so that a segment that came back into use
// meanwhile is kept.
func (o *rmOptions) removeStale() error {
	list, err := shmbuf.List()
	if err != nil {
		return o.fail(err)
	}
	var errs []error
	for _, info := range list {
		a := info.Addr
		name := a.Name
		if a.Backend == shmbuf.SysV {
			name = fmt.Sprintf("0x%08x", uint32(info.Key))
			if info.Removed {
				continue
			}
		} else if info.Type != "file" {
			continue
		}
		if ok, _ := path.Match(o.match, name); !ok {
			continue
		}
		now, err := shmbuf.StatSegment(a)
		if err != nil || !isStale(a, now.Kind) {
			continue
		}
		if err := shmbuf.RemoveSegment(a); err != nil {
			t := target{op: o.op, addr: a.String()}
			errs = append(errs, t.fail(err))
			continue
		}
		fmt.Fprintf(o.io.out, "removed %s (%s, stale)\n", quoteName(a.String()), now.Kind)
	}
	return errors.Join(errs...)
}
