package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/testenv"
	"github.com/spf13/cobra"
)

// TestExamples runs every example of README.md and of every command's
// --help, as written, each in a sandbox of its own: a private /dev/shm
// (a tmpfs in a new mount namespace), a private System V namespace and a
// pid namespace, so that examples can use their literal names
// (status, frames, sysv-id:5, shared_buffer) without touching anyone's
// segments, and so that whatever an example leaves running ends with it.
//
// exampleRuns says, for each example, what to set up before it and what
// to check after it. The test fails for an example that has no entry
// (add one when you add an example) and for an entry that matches no
// example any more. A few examples cannot run as written; their entry
// runs a bounded form instead and says why: one that needs a terminal
// runs under script(1); benchmarks run with --reps 1 and short phases;
// `go test ./...` is the run this test is part of. Examples marked long
// (the builds the first one already proves) run with SHMBUF_LONG=1.
// Each example has namespaces of its own, so they run in parallel, with
// each other and with the other parallel tests.
func TestExamples(t *testing.T) {
	t.Parallel() // in sandboxes of their own
	examples := collectExamples(t)
	for _, ex := range examples {
		if _, ok := exampleRuns[ex.text]; !ok {
			t.Errorf("example %q (%s) has no entry in exampleRuns", ex.text, ex.from)
		}
	}
	for text := range exampleRuns {
		if !slices.ContainsFunc(examples, func(ex example) bool { return ex.text == text }) {
			t.Errorf("exampleRuns has %q, which no help or README.md shows any more", text)
		}
	}
	if t.Failed() {
		return
	}
	testenv.Root(t, "for the examples' namespaces")
	for _, tool := range []string{"unshare", "bash", "jq", "xxd", "script", "ipcmk"} {
		testenv.Tool(t, tool)
	}
	bin := t.TempDir()
	if err := os.Symlink(os.Args[0], filepath.Join(bin, "shmbuf")); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		r := exampleRuns[ex.text]
		name := ex.text
		if r.goProgram {
			name = "the Go program of " + ex.from
		}
		t.Run(name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip(r.skip)
			}
			if r.long && !testenv.Long() {
				t.Skip("another build of shmbuf or of its tests: SHMBUF_LONG=1 runs it")
			}
			t.Parallel()
			runExample(t, ex, r, bin, root)
		})
	}
}

// example is one example: a command line (README.md's continued lines
// joined) or, for a Go program, its source.
type example struct {
	text string
	from string // where it is shown
	// output is what a README transcript ($ COMMAND, then its output)
	// shows the command printing.
	output string
}

// exampleRun is how one example runs in its sandbox (bash, set -eu, in
// a fresh directory, shmbuf first on PATH; producer prints three lines,
// consumer saves its input in consumer.out). Examples that build run in a
// copy of the module ("src"), so that nothing lands in the repository;
// the Go program runs with go run from outside the module.
type exampleRun struct {
	setup string // before the example
	// bounded replaces the example when it cannot run as written (see
	// why); "" runs it as written.
	bounded, why string
	// short replaces the example in the default run, when what it proves
	// is proved more cheaply (see shortWhy); SHMBUF_LONG=1 runs it as
	// written, or its bounded form.
	short, shortWhy string
	// shortSetup replaces setup for short (which needs no copy of the
	// module, say).
	shortSetup string
	// bg runs the example in the background (it does not end on its
	// own); check then waits for what it must see.
	bg bool
	// check runs after the example, whose stdout and stderr are in
	// example.out and example.err; it must exit 0.
	check string
	// code is the exit code the example must end with (not bg).
	code int
	long bool   // a build another example proves: run with SHMBUF_LONG=1
	skip string // not run here, and why
	// privateTmp gives the example a /tmp of its own, and runs it in a
	// copy of the module there, /tmp/src. The test binary, under /tmp,
	// is then out of reach: such an example cannot use shmbuf.
	privateTmp bool
	// goProgram runs the example as a Go program of this module.
	goProgram bool
}

// sandboxPrelude makes the example's namespaces private and its tools
// ready.
const sandboxPrelude = `set -eu
mount --make-rprivate /
mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm
cd "$EXAMPLE_DIR"
export PATH="$EXAMPLE_BIN:$PATH"
producer() { printf 'p1\np2\np3\n'; }
consumer() { cat > consumer.out; }
# sysvid N: the next System V segment gets id N (its namespace is new).
sysvid() { echo "$1" > /proc/sys/kernel/shm_next_id; ipcmk -M 4096 > /dev/null; }
# copymodule DIR: a copy of the module in DIR, without its .git (13 MB of
# small files, seconds of copying that no example needs).
copymodule() { mkdir -p "$1"; (cd "$EXAMPLE_ROOT" && tar --exclude=./.git -cf - .) | tar -xf - -C "$1"; }
# waitfor CMD: until CMD succeeds, 10 s at most.
waitfor() { for i in $(seq 200); do if eval "$1"; then return 0; fi; sleep 0.05; done; echo "timed out waiting for: $1" >&2; return 1; }
`

func runExample(t *testing.T, ex example, r exampleRun, bin, root string) {
	dir := t.TempDir()
	body, setup := ex.text, r.setup
	switch {
	case r.short != "" && !testenv.Long():
		body, setup = r.short, r.shortSetup
		long := "it as written"
		if r.bounded != "" {
			long = "its bounded form"
		}
		t.Logf("runs %q instead: %s (SHMBUF_LONG=1 runs %s)", r.short, r.shortWhy, long)
	case r.bounded != "":
		body = r.bounded
		t.Logf("runs %q instead: %s", r.bounded, r.why)
	}
	if r.goProgram {
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(ex.text), 0o644); err != nil {
			t.Fatal(err)
		}
		// In the module itself: go run of a file outside it writes
		// nothing there, and finds shmbuf in the build cache go test
		// has just filled (from a copy of the module, which the cache
		// keys apart, it compiled everything again: 2 s of CPU).
		body = `(cd "$EXAMPLE_ROOT" && go run "$EXAMPLE_DIR/main.go")`
	}
	var script strings.Builder
	script.WriteString(sandboxPrelude)
	if r.privateTmp {
		// A new tmpfs gets a copy of the module before it moves over
		// /tmp, which may hold the module itself (a clone in /tmp).
		script.WriteString(`mkdir newtmp; mount -t tmpfs -o mode=1777 tmpfs newtmp; copymodule newtmp/src
mount --move newtmp /tmp; cd /tmp/src
`)
	}
	script.WriteString(setup + "\n")
	if r.bg {
		fmt.Fprintf(&script, "(\n%s\n) > example.out 2> example.err &\n", body)
	} else {
		fmt.Fprintf(&script, "set +e\n{\n%s\n} > example.out 2> example.err\ncode=$?\nset -e\n", body)
		fmt.Fprintf(&script, "if [ $code -ne %d ]; then echo \"exit code $code, want %d\" >&2; cat example.err >&2; exit 1; fi\n", r.code, r.code)
	}
	if ex.output != "" && body == ex.text {
		if err := os.WriteFile(filepath.Join(dir, "transcript.txt"), []byte(ex.output), 0o644); err != nil {
			t.Fatal(err)
		}
		script.WriteString("cat example.out example.err | cmp - transcript.txt\n")
	}
	script.WriteString(r.check + "\n")

	cmd := exec.Command("unshare", "--mount", "--ipc", "--pid", "--fork", "--mount-proc", "bash", "-c", script.String())
	cmd.Env = append(os.Environ(), "EXAMPLE_DIR="+dir, "EXAMPLE_BIN="+bin, "EXAMPLE_ROOT="+root)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill() // the pid namespace goes with it
		}
	}()
	out, err := cmd.CombinedOutput()
	close(done)
	if err != nil {
		example, _ := os.ReadFile(filepath.Join(dir, "example.out"))
		exampleErr, _ := os.ReadFile(filepath.Join(dir, "example.err"))
		t.Fatalf("%v\n%s\nexample's stdout:\n%s\nexample's stderr:\n%s", err, out, example, exampleErr)
	}
}

// collectExamples gathers the examples of every command's help and of
// README.md: the shell lines of its sh blocks, the commands of its
// transcripts ($ COMMAND) and its Go program.
func collectExamples(t *testing.T) []example {
	t.Helper()
	var list []example
	add := func(ex example) {
		if !slices.ContainsFunc(list, func(e example) bool { return e.text == ex.text }) {
			list = append(list, ex)
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				add(example{text: line, from: c.CommandPath() + " --help"})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&streams{}))

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	lang, in := "", false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```"):
			in, lang, block = true, strings.TrimPrefix(line, "```"), nil
		case in && line == "```":
			in = false
			for _, ex := range readmeExamples(lang, block) {
				add(ex)
			}
		case in:
			block = append(block, line)
		}
	}
	return list
}

// readmeExamples returns the examples of one fenced block of README.md.
func readmeExamples(lang string, block []string) []example {
	var list []example
	switch lang {
	case "sh":
		cont := ""
		for _, line := range block {
			if strings.HasSuffix(line, `\`) {
				cont += strings.TrimSuffix(line, `\`)
				continue
			}
			if line = cont + line; strings.TrimSpace(line) != "" {
				list = append(list, example{text: strings.TrimSpace(line), from: "README.md"})
			}
			cont = ""
		}
	case "go":
		list = append(list, example{text: strings.Join(block, "\n") + "\n", from: "README.md"})
	case "":
		// A transcript: $ COMMAND, then what it prints.
		for _, line := range block {
			if cmd, ok := strings.CutPrefix(line, "$ "); ok {
				list = append(list, example{text: cmd, from: "README.md"})
				continue
			}
			if n := len(list); n > 0 {
				list[n-1].output += line + "\n"
			}
		}
	}
	return list
}
