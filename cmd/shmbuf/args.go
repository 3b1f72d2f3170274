package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// addrArg returns the first argument or, without one, the default
// address.
func addrArg(args []string) string {
	if len(args) == 0 {
		return shmbuf.DefaultName
	}
	return args[0]
}

// parseAddr parses the address argument of command op. Unlike
// ParseAddress, an empty argument is an invalid name, not the default:
// the default is for an argument left out, not for "". A path where a
// name was expected gets a hint. The error names the argument as given.
func parseAddr(op, s string) (shmbuf.Address, error) {
	fail := func(err error) (shmbuf.Address, error) {
		return shmbuf.Address{}, &cmdError{op: op, addr: strconv.Quote(s), quoted: true, err: err}
	}
	if s == "" {
		return fail(fmt.Errorf("%w (name is empty)", shmbuf.ErrInvalidName))
	}
	a, err := shmbuf.ParseAddress(s)
	var le *shmbuf.Error
	switch {
	case err == nil:
		return a, nil
	case errors.As(err, &le) && errors.Is(err, shmbuf.ErrInvalidName) && strings.Contains(s, "/"):
		return fail(fmt.Errorf("%w; for /dev/shm/NAME give NAME or posix:/NAME, for another path file:PATH", le.Err))
	case errors.As(err, &le):
		return fail(le.Err)
	}
	return fail(err)
}

// Argument-count checks, worded alike for every command.

// noArgs refuses any argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments, got %q", args[0])
	}
	return nil
}

// maxOneAddr takes at most one ADDR.
func maxOneAddr(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("takes one ADDR at most, got %d arguments", len(args))
	}
	return nil
}

// oneAddr takes exactly one ADDR.
func oneAddr(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("ADDR is missing")
	case len(args) > 1:
		return fmt.Errorf("takes one ADDR, got %d arguments", len(args))
	}
	return nil
}
