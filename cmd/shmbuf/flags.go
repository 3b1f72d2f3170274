package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/bytesize"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every flag value is kept as text by the flag set and parsed by the
// command's validate step, so that every bad value of every flag is
// reported in one wording:
//
//	shmbuf: OP ADDR: --FLAG "VALUE": invalid argument (want ...)
//
// (invalid size for sizes), with exit code 2.

// flagError is a bad flag value.
type flagError struct {
	flag, value string
	kind        error // shmbuf.ErrInvalidArgument or shmbuf.ErrInvalidSize
	want        string
}

func (e *flagError) Error() string {
	return fmt.Sprintf("--%s %q: %v (want %s)", e.flag, e.value, e.kind, e.want)
}

func (e *flagError) Unwrap() error { return e.kind }

func badArg(flag, value, want string) error {
	return &flagError{flag, value, shmbuf.ErrInvalidArgument, want}
}

// textFlag is a flag whose value is kept as given: typ is the word the
// help shows for it ("int", "duration").
type textFlag struct {
	p   *string
	typ string
}

func (f textFlag) String() string     { return *f.p }
func (f textFlag) Set(s string) error { *f.p = s; return nil }
func (f textFlag) Type() string       { return f.typ }

// textVar defines a flag kept as text, parsed later.
func textVar(fs *pflag.FlagSet, p *string, name, typ, value, usage string) {
	*p = value
	fs.Var(textFlag{p, typ}, name, usage)
}

// choice is a flag that takes one of a few words.
type choice struct {
	flag  string
	words []string
}

var (
	kindChoice   = choice{"kind", []string{"raw", "snapshot", "ring"}}
	policyChoice = choice{"policy", []string{"block", "overwrite"}}
	waitChoice   = choice{"wait", []string{"spin", "adaptive", "block"}}
	fromChoice   = choice{"from", []string{"oldest", "latest"}}
)

// want is the list of words for the error message: "a, b or c".
func (c choice) want() string {
	w := c.words
	if len(w) == 1 {
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

// check returns an error unless s is one of the words.
func (c choice) check(s string) error {
	for _, w := range c.words {
		if s == w {
			return nil
		}
	}
	return badArg(c.flag, s, c.want())
}

// complete registers the words as the flag's shell completions.
func (c choice) complete(cmd *cobra.Command) {
	cmd.RegisterFlagCompletionFunc(c.flag, cobra.FixedCompletions(c.words, cobra.ShellCompDirectiveNoFileComp))
}

// kindAuto is the --kind value of read and write that means "whatever the
// segment is".
const kindAuto = "auto"

// autoKindChoice is --kind for read and write.
var autoKindChoice = choice{"kind", []string{kindAuto, "raw", "snapshot", "ring"}}

// parseKind parses a --kind value checked by kindChoice or
// autoKindChoice: KindUnknown for auto.
func parseKind(c choice, s string) (shmbuf.Kind, error) {
	if s == kindAuto && c.check(s) == nil {
		return shmbuf.KindUnknown, nil
	}
	return pick(c, s, shmbuf.KindRaw, shmbuf.KindSnapshot, shmbuf.KindRing)
}

func parsePolicy(s string) (shmbuf.Policy, error) {
	return pick(policyChoice, s, shmbuf.PolicyBlock, shmbuf.PolicyOverwrite)
}

func parseWait(s string) (shmbuf.WaitStrategy, error) {
	return pick(waitChoice, s, shmbuf.WaitSpin, shmbuf.WaitAdaptive, shmbuf.WaitBlock)
}

func parseFrom(s string) (shmbuf.StartPosition, error) {
	return pick(fromChoice, s, shmbuf.FromOldest, shmbuf.FromLatest)
}

// pick returns the value whose name (String) is s, when s is one of c's
// words.
func pick[T fmt.Stringer](c choice, s string, values ...T) (T, error) {
	if err := c.check(s); err == nil {
		for _, v := range values {
			if v.String() == s {
				return v, nil
			}
		}
	}
	var none T
	return none, badArg(c.flag, s, c.want())
}

// sizeWant is what a size flag takes.
const sizeWant = "a size such as 4096, 64KiB, 4MiB or 1GiB"

// parseSize parses a size flag: a positive byte count with an optional
// unit.
func parseSize(flag, s string) (int64, error) {
	n, err := bytesize.Parse(s)
	if err != nil {
		return 0, &flagError{flag, s, shmbuf.ErrInvalidSize, sizeWant}
	}
	return n, nil
}

// parseCount parses a flag taking a whole number of at least zero.
func parseCount(flag, s, zero string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badArg(flag, s, "a whole number: 0 for "+zero+", or more")
	}
	return n, nil
}

// parseDuration parses a positive duration such as 500ms, 10s or 1m.
func parseDuration(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, badArg(flag, s, "a duration such as 500ms, 10s or 1m")
	}
	return d, nil
}

// parseAge parses a duration of at least zero, such as 30m, 2h or 0s.
func parseAge(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badArg(flag, s, "a duration such as 30m, 2h or 0s")
	}
	return d, nil
}

// parseMode parses a --mode value: octal permission bits such as 0600,
// 644 or 0o640, of which the owner keeps read and write.
func parseMode(s string) (os.FileMode, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	m, err := strconv.ParseUint(t, 8, 32)
	if err != nil || t == "" || m > 0o777 || m&0o600 != 0o600 {
		return 0, badArg("mode", s, "octal permission bits from 0600 to 0777, such as 0644")
	}
	return os.FileMode(m), nil
}
