package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

// commandPaths lists every command of the tree, hidden ones left out,
// as the argument lists that name them: {}, {"read"}, {"completion",
// "bash"}, ...
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Hidden {
				continue
			}
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	root := newRootCmd(&streams{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	return paths
}

// TestHelp_Width checks that the help of every command, and every line
// of it, fits a terminal's 80 columns, and that the completion and
// version commands are listed.
func TestHelp_Width(t *testing.T) {
	paths := commandPaths(t)
	if len(paths) < 12 {
		t.Fatalf("found only %d commands: %q", len(paths), paths)
	}
	for _, path := range paths {
		var stdout, stderr bytes.Buffer
		args := append(append([]string(nil), path...), "--help")
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("shmbuf %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr.String())
			continue
		}
		for i, line := range strings.Split(stdout.String(), "\n") {
			if n := utf8.RuneCountInString(line); n > helpWidth {
				t.Errorf("shmbuf %s, line %d is %d columns:\n%s", strings.Join(args, " "), i+1, n, line)
			}
		}
		if len(path) == 0 {
			for _, want := range []string{"\n  completion ", "\n  version "} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("shmbuf --help does not list%s", strings.TrimRight(want, " "))
				}
			}
		}
	}
}
