package main

import (
	"fmt"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

func newRmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm ADDR...",
		Short: "Remove segments",
		Long: `Remove each segment named. For a posix segment this is the same as
rm /dev/shm/NAME: processes that have it mapped keep their mapping. A
System V segment is marked for removal and freed when the last process
detaches. A symbolic link at a segment's path is refused and its target is
not touched.

Every address is checked before anything is removed: one malformed address
removes nothing. A segment that cannot be removed is reported and the rest
are still removed; the exit code is then the worst failure's.
` + addressHelp,
		Example: `  shmbuf rm shared_buffer
  shmbuf rm frames status sysv-id:5`,
		Args: cobra.MinimumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
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
	return cmd
}
