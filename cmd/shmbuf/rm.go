package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// rmOptions is `shmbuf rm`.
type rmOptions struct {
	io *streams
	target
	flags                *pflag.FlagSet
	force, stale, dryRun bool
	match, olderThanText string

	addrs     []shmbuf.Address
	olderThan time.Duration
}

// staleOnlyFlags are rm's flags that only --stale takes.
var staleOnlyFlags = []string{"match", "older-than", "dry-run"}

func newRmCmd(s *streams) *cobra.Command {
	o := &rmOptions{io: s, target: target{op: "rm"}}
	cmd := &cobra.Command{
		Use:   "rm [-f] ADDR... | --stale [--older-than AGE] [--dry-run]",
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

--stale removes every stale segment of /dev/shm and System V instead:
every segment shmbuf made that nobody uses and nobody has written for
--older-than (default 1h; a duration such as 30m, 2h or 0s, which takes
any age). Each is checked again just before its removal, and each
removal is printed. --match GLOB limits it to /dev/shm names (or System V
keys written 0x%08x) that match the shell pattern GLOB. --dry-run prints
what --stale would remove ("would remove ...") and removes nothing.

` + staleHelp + `
` + addressHelp,
		Example: `  shmbuf rm shared_buffer
  shmbuf rm frames status sysv-id:5
  shmbuf rm -f maybe-there
  shmbuf rm --stale
  shmbuf rm --stale --dry-run --older-than 10m
  shmbuf rm --stale --match 'frames-*'`,
		RunE: runE(o),
	}
	f := cmd.Flags()
	o.flags = f
	f.BoolVarP(&o.force, "force", "f", false, "ignore segments that do not exist")
	f.BoolVar(&o.stale, "stale", false, "remove every stale segment instead of named ones")
	textVar(f, &o.olderThanText, "older-than", "duration", "1h", "with --stale: only segments last written at least this long ago")
	f.StringVar(&o.match, "match", "*", "with --stale: only names (or System V keys) matching this shell pattern")
	f.BoolVar(&o.dryRun, "dry-run", false, "with --stale: print what would be removed, remove nothing")
	return cmd
}

func (o *rmOptions) validate(args []string) error {
	if o.stale {
		if len(args) > 0 {
			return o.usagef("--stale removes every stale segment and takes no addresses")
		}
		d, err := parseAge("older-than", o.olderThanText)
		if err != nil {
			return o.fail(err)
		}
		o.olderThan = d
		if _, err := path.Match(o.match, ""); err != nil {
			return o.fail(badArg("match", o.match, "a shell pattern such as 'frames-*'"))
		}
		return nil
	}
	for _, name := range staleOnlyFlags {
		if o.flags.Changed(name) {
			return o.usagef("--%s goes with --stale", name)
		}
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
		err := shmbuf.Remove(a.String())
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

// removeStale removes the stale segments, re-checking each one just
// before removing it so that a segment that came back into use or was
// written meanwhile is kept; with --dry-run it only says which.
func (o *rmOptions) removeStale() error {
	all, err := shmbuf.List()
	if err != nil {
		return o.fail(err)
	}
	// Inspect only what --match names: looking maps each segment for a
	// moment, and a concurrent inspector of others' segments counts (for
	// an instant) as their user.
	var list []shmbuf.SegmentInfo
	for _, info := range all {
		a := info.Addr
		name := a.Name()
		if a.Backend() == shmbuf.SysV {
			name = fmt.Sprintf("0x%08x", uint32(info.Key))
			if info.Removed {
				continue
			}
		} else if info.Type != "file" {
			continue
		}
		if ok, _ := path.Match(o.match, name); ok {
			list = append(list, info)
		}
	}
	usages := shmbuf.Usages(list)
	var errs []error
	for i, info := range list {
		a := info.Addr
		if u := usages[i]; u == nil || !u.Stale(o.olderThan) {
			continue
		}
		u := shmbuf.Usages([]shmbuf.SegmentInfo{info})[0] // again, now
		if u == nil || !u.Stale(o.olderThan) {
			continue
		}
		what := fmt.Sprintf("%s (%s, stale, written %s ago)", quoteName(a.String()), u.Kind, ago(u.LastWrite))
		if o.dryRun {
			fmt.Fprintf(o.io.out, "would remove %s\n", what)
			continue
		}
		if err := shmbuf.Remove(a.String()); err != nil {
			t := target{op: o.op, addr: a.String()}
			errs = append(errs, t.fail(err))
			continue
		}
		fmt.Fprintf(o.io.out, "removed %s\n", what)
	}
	return errors.Join(errs...)
}
