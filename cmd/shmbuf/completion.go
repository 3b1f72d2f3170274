package main

import (
	"slices"
	"strings"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// Shell completion (`shmbuf completion bash|zsh|fish|powershell`, cobra's)
// completes the segments that exist for the commands that take one, and
// the words of --kind, --policy, --wait and --from (see choice.complete).

// completeSegments makes the ADDR arguments of read, write, stat and rm
// complete to the segments that exist: the names in /dev/shm, and System
// V segments as sysv-id:ID and, when they have a key, sysv:KEY.
func completeSegments(root *cobra.Command) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "read", "write", "stat":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return segmentNames(prefix, nil), cobra.ShellCompDirectiveNoFileComp
			}
		case "rm":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
				return segmentNames(prefix, args), cobra.ShellCompDirectiveNoFileComp
			}
		case "create", "ls", "version":
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	}
}

// segmentNames lists the addresses of existing segments that start with
// prefix, leaving out those in skip.
func segmentNames(prefix string, skip []string) []string {
	list, err := shmbuf.List()
	if err != nil {
		return nil
	}
	var names []string
	add := func(s string) {
		if strings.HasPrefix(s, prefix) && !slices.Contains(skip, s) {
			names = append(names, s)
		}
	}
	for _, info := range list {
		switch {
		case info.Addr.Backend() == shmbuf.SysV:
			add(info.Addr.String()) // sysv-id:ID
			if a, err := shmbuf.SysVKeyAddress(info.Key); err == nil {
				add(a.String()) // not a private segment
			}
		case info.Type == "file":
			add(info.Addr.Name())
		}
	}
	return names
}
