// Command shmbuf writes, reads and manages shared-memory segments from the
// shell: `echo hello | shmbuf write`, `shmbuf read`, `shmbuf rm
// shared_buffer`. Run `shmbuf --help` for the commands and the address
// syntax.
package main

import (
	"os"

	"github.com/shmbuf/shmbuf/internal/bench"
)

func main() { os.Exit(Main()) }

// Main runs the command line in os.Args with the process's standard
// streams and returns the exit code (see exit.go). The tests register it
// as the "shmbuf" command.
func Main() int {
	// `shmbuf bench` re-executes this binary as its writer and reader
	// peers; a peer runs its role and exits here.
	bench.RunPeerIfRequested()
	return run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
