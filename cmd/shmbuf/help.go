package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// helpWidth is the width every help text fits in: a terminal's 80
// columns.
const helpWidth = 80

// usage prints a command's usage as cobra's default does, with the flag
// descriptions wrapped to helpWidth.
func usage(c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:")
	if c.Runnable() {
		b.WriteString("\n  " + c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\n  " + c.CommandPath() + " [command]")
	}
	if c.HasExample() {
		b.WriteString("\n\nExamples:\n" + c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\n\nAvailable Commands:")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(&b, "\n  %-*s %s", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		b.WriteString("\n\nFlags:\n" + strings.TrimRight(c.LocalFlags().FlagUsagesWrapped(helpWidth), " \n"))
	}
	if c.HasAvailableInheritedFlags() {
		b.WriteString("\n\nGlobal Flags:\n" + strings.TrimRight(c.InheritedFlags().FlagUsagesWrapped(helpWidth), " \n"))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\n\nUse \"%s [command] --help\" for more information about a command.", c.CommandPath())
	}
	b.WriteString("\n")
	_, err := fmt.Fprint(c.OutOrStderr(), b.String())
	return err
}

// wrapLong wraps the long help of c and its subcommands (cobra's
// completion commands have lines longer than helpWidth) at spaces.
func wrapLong(c *cobra.Command) {
	var lines []string
	for _, line := range strings.Split(c.Long, "\n") {
		for len(line) > helpWidth {
			cut := strings.LastIndexByte(line[:helpWidth+1], ' ')
			if cut <= 0 {
				break
			}
			lines = append(lines, line[:cut])
			line = line[cut+1:]
		}
		lines = append(lines, line)
	}
	c.Long = strings.Join(lines, "\n")
	for _, sub := range c.Commands() {
		wrapLong(sub)
	}
}

// versionLine is what `shmbuf --version` and `shmbuf version` print.
const versionLine = "shmbuf version {{.Version}}\n"

// version is this build's version: the module version Go stamped into
// the binary (a tag, or a pseudo-version from the commit), else the
// commit it was built from, else "unknown".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev[:min(len(rev), 12)] + modified
}

// versionOptions is `shmbuf version`.
type versionOptions struct {
	io *streams
}

func newVersionCmd(s *streams) *cobra.Command {
	o := &versionOptions{io: s}
	return &cobra.Command{
		Use:     "version",
		Short:   "Print shmbuf's version (the same as shmbuf --version)",
		Example: "  shmbuf version",
		Args:    noArgs,
		RunE:    runE(o),
	}
}

func (o *versionOptions) validate([]string) error { return nil }

func (o *versionOptions) run(context.Context) error {
	_, err := fmt.Fprintf(o.io.out, "shmbuf version %s\n", version())
	return err
}
