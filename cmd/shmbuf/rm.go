package main

import (
	"errors"
	"fmt"
	"path"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

func newRmCmd() *cobra.Command {
	var stale bool
	var match string
	cmd := &cobra.Command{
		Use:   "rm ADDR... | --stale",
		Short: "Remove segments",
		Long: `Remove each segment named. For a posix segment this is the same as
rm /dev/shm/NAME: processes that have it mapped keep their mapping. A
System V segment is marked for removal and freed when the last process
detaches. A symbolic link at a segment's path is refused and its target is
not touched.

Every address is checked before anything is removed: one malformed address
removes nothing. A segment that cannot be removed is reported and the rest
are still removed; the exit code is then the worst failure's.

--stale removes every stale segment instead (see shmbuf ls): snapshots and
rings whose recorded processes are all dead and that no live process maps,
holds open or attaches. Each is checked again just before its removal, and
each removal is printed. --match GLOB limits it to /dev/shm names (or
System V keys written 0x%08x) that match the shell pattern GLOB.
` + addressHelp,
		Example: `  shmbuf rm shared_buffer
  shmbuf rm frames status sysv-id:5
  shmbuf rm --stale
  shmbuf rm --stale --match 'frames-*'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if stale {
				if len(args) > 0 {
					return fmt.Errorf("--stale removes every stale segment and takes no addresses")
				}
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if stale {
				return removeStale(cmd, match)
			}
			addrs := make([]shmbuf.Address, len(args))
			for i, s := range args {
				a, err := parseAddr(s)
				if err != nil {
					return err
				}
				addrs[i] = a
			}
			var errs []error
			for _, a := range addrs {
				if err := shmbuf.RemoveSegment(a); err != nil {
					errs = append(errs, err)
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
				fmt.Fprintln(cmd.ErrOrStderr(), errorLine(cmd.CommandPath(), &ranError{err}))
				worst = max(worst, exitCode(&ranError{err}))
			}
			return &statusError{worst}
		}),
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "remove every stale snapshot and ring instead of named segments")
	cmd.Flags().StringVar(&match, "match", "*", "with --stale: only names (or System V keys) matching this shell pattern")
	return cmd
}

// removeStale removes the segments ls marks stale, re-checking each one
// just before removing it so that a segment that came back into use
// meanwhile is kept.
func removeStale(cmd *cobra.Command, match string) error {
	if _, err := path.Match(match, ""); err != nil {
		return &usageError{fmt.Sprintf("--match %q: %v", match, err)}
	}
	posix, err := listPosix()
	if err != nil {
		return err
	}
	sysv, err := listSysV()
	if err != nil {
		return err
	}
	var candidates []shmbuf.Address
	for _, e := range posix {
		if ok, _ := path.Match(match, e.Name); e.Stale && ok {
			candidates = append(candidates, shmbuf.Address{Backend: shmbuf.POSIX, Name: e.Name, Path: shmbuf.ShmDir + "/" + e.Name})
		}
	}
	for _, e := range sysv {
		if ok, _ := path.Match(match, e.Key); e.Stale && !e.Removed && ok {
			candidates = append(candidates, shmbuf.Address{Backend: shmbuf.SysV, ID: e.ShmID, ByID: true})
		}
	}
	var errs []error
	for _, a := range candidates {
		info, err := shmbuf.StatSegment(a)
		if err != nil || !isStale(a, info.Kind) {
			continue
		}
		if err := shmbuf.RemoveSegment(a); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s, stale)\n", a, info.Kind)
	}
	return errors.Join(errs...)
}
