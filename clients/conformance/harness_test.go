package conformance_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// roleEnv carries a Go role's arguments to a re-executed test binary.
const roleEnv = "SHMBUF_CONFORMANCE_ROLE"

func TestMain(m *testing.M) {
	if args := os.Getenv(roleEnv); args != "" {
		os.Exit(runRole(strings.Split(args, "\x1f")))
	}
	testenv.RaiseParallel(4) // the tests mostly wait for their processes
	os.Exit(m.Run())
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	nameSeq   atomic.Int64
)

// root is the repository's root directory.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// need skips t when a tool is missing, or fails it under SHMBUF_REQUIRE=1
// (see testenv.Missing).
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testenv.Tool(t, tool)
	}
}

// cBuild builds the C library, the tool and the sanitized tool once per
// test binary and returns the directory holding them. The build is kept
// in the user's cache directory under a digest of the sources and the
// compiler's version, so that a run after no change to clients/c reuses
// it (7 s of CPU here); a change to either makes a new one.
func cBuild(t *testing.T) string {
	t.Helper()
	need(t, "make", "gcc")
	buildOnce.Do(func() {
		readClientSources(t)
		buildDir, buildErr = cachedBuild(t)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// cBuildASan returns shmbuf_tool_asan, the tool and library under
// -fsanitize=address,undefined (built with the rest by cBuild).
func cBuildASan(t *testing.T) string {
	t.Helper()
	return filepath.Join(cBuild(t), "shmbuf_tool_asan")
}

// readClientSources reads every file of the C library and the Python
// package in this process. make, the compiler and python read them in
// child processes, which go test's result cache does not see: without
// this, a change to shmbuf.c would leave a cached PASS of these tests.
func readClientSources(t *testing.T) {
	for _, dir := range []string{filepath.Join(root(t), "clients", "c"), filepath.Join(root(t), "clients", "python")} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				os.ReadFile(path)
			}
			return nil
		})
	}
}

// cachedBuild returns the cached build of the current sources, making it
// when missing: built in a temporary directory beside it and renamed into
// place, so that a concurrent run never sees half a build.
func cachedBuild(t *testing.T) (string, error) {
	src := filepath.Join(root(t), "clients", "c")
	h := sha256.New()
	for _, f := range []string{"Makefile", "shmbuf.h", "shmbuf.c", "shmbuf_tool.c"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	cc, err := exec.Command("gcc", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("gcc --version: %v", err)
	}
	h.Write(cc)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	parent := filepath.Join(cache, "shmbuf-conformance")
	dir := filepath.Join(parent, hex.EncodeToString(h.Sum(nil))[:20])
	if _, err := os.Stat(filepath.Join(dir, "shmbuf_tool_asan")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // after a rename, nothing is there
	if out, err := exec.Command("make", "-s", "-C", src, "OUT="+tmp, "CC=gcc", "all", "asan").CombinedOutput(); err != nil {
		return "", fmt.Errorf("make: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(tmp, "shmbuf.o"))
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "shmbuf_tool_asan")); serr != nil {
			return "", err // not another run's finished build
		}
	}
	return dir, nil
}

// uniqueName returns a /dev/shm name no other test uses, removed when t
// ends.
func uniqueName(t *testing.T, what string) string {
	t.Helper()
	n := fmt.Sprintf("conformance-%d-%s-%d", os.Getpid(), what, nameSeq.Add(1))
	t.Cleanup(func() { os.Remove("/dev/shm/" + n) })
	return n
}

// uniqueNameCleanup removes /dev/shm/name when t ends.
func uniqueNameCleanup(t *testing.T, name string) {
	t.Cleanup(func() { os.Remove("/dev/shm/" + name) })
}

type lang string

const (
	langGo     lang = "go"
	langC      lang = "c"
	langPython lang = "python"
	// langCASan is the C tool built with -fsanitize=address,undefined.
	langCASan lang = "c-asan"
)

// sanitizerEnv makes a sanitizer report fail the process at once.
var sanitizerEnv = []string{"ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"}

var langs = []lang{langGo, langC, langPython}

// command returns the process that runs args as lang's role.
func (l lang) command(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	var c *exec.Cmd
	switch l {
	case langGo:
		c = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), roleEnv+"="+strings.Join(args, "\x1f"))
	case langC:
		c = exec.CommandContext(ctx, filepath.Join(cBuild(t), "shmbuf_tool"), args...)
	case langCASan:
		c = exec.CommandContext(ctx, cBuildASan(t), args...)
		c.Env = append(os.Environ(), sanitizerEnv...)
	case langPython:
		py := testenv.Python(t)
		dir := cBuild(t)
		// -S: a role needs only the standard library and PYTHONPATH,
		// and site's start-up (whatever the installed packages' .pth
		// files import) is most of a role's CPU, in tests that start
		// dozens of roles.
		c = exec.CommandContext(ctx, py, append([]string{"-S", filepath.Join(root(t), "clients", "conformance", "testdata", "role.py")}, args...)...)
		c.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root(t), "clients", "python"), "SHMBUF_LIB="+filepath.Join(dir, "libshmbuf.so"))
	}
	return c
}

// run runs lang's role to completion and returns its standard output.
func (l lang) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := l.command(t, ctx, args...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", l, args, err, stderr.String())
	}
	return string(out)
}

// runner runs a language's short commands (create, publish, load) to
// completion and returns what they print.
type runner interface {
	run(t *testing.T, args ...string) string
}

// session returns a runner of l's commands for t: for Python, one process
// that runs them all (role.py serve) and ends with t, since a Python
// start costs a hundred times a C or Go one; l itself for the others.
func (l lang) session(t *testing.T) runner {
	t.Helper()
	if l != langPython {
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c := l.command(t, ctx, "serve")
	c.Stderr = os.Stderr // serve answers each command with its errors; nothing else is expected
	stdin, err := c.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // serve ends at the end of its input
		if err := c.Wait(); err != nil {
			t.Errorf("python serve: %v", err)
		}
		cancel()
	})
	return &pySession{stdin: stdin, out: bufio.NewReader(out)}
}

// pySession is a Python process running role.py serve.
type pySession struct {
	stdin io.Writer
	out   *bufio.Reader
}

func (s *pySession) run(t *testing.T, args ...string) string {
	t.Helper()
	line := strings.Join(args, "\x1f")
	if strings.Contains(line, "\n") {
		t.Fatalf("python %q: serve takes no argument with a newline", args)
	}
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		t.Fatalf("python %q: %v", args, err)
	}
	header, err := s.out.ReadString('\n')
	var status, n, m int
	if err == nil {
		_, err = fmt.Sscanf(header, "%d %d %d\n", &status, &n, &m)
	}
	if err != nil {
		t.Fatalf("python %q: answer %q: %v", args, header, err)
	}
	body := make([]byte, n+m)
	if _, err := io.ReadFull(s.out, body); err != nil {
		t.Fatalf("python %q: %v", args, err)
	}
	if status != 0 {
		t.Fatalf("python %q: status %d\n%s", args, status, body[n:])
	}
	return string(body[:n])
}

// proc is a role running in the background, its output read line by line.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
	done   chan error
}

// start starts lang's role and waits until it prints "ready".
func (l lang) start(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	return startCmd(t, fmt.Sprintf("%s %v", l, args), l.command(t, ctx, args...), cancel)
}

// startCmd starts c, a role's process made with a context that cancel
// ends, and waits until it prints "ready".
func startCmd(t *testing.T, name string, c *exec.Cmd, cancel context.CancelFunc) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: c, lines: make(chan string, 16), stderr: &strings.Builder{}, done: make(chan error, 1)}
	c.Stderr = p.stderr
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- c.Wait()
	}()
	t.Cleanup(func() {
		c.Process.Kill()
		cancel()
	})
	p.expect("ready")
	return p
}

// line returns the next line of output, failing after a generous wait.
func (p *proc) line() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			err := <-p.done
			p.done <- err
			p.t.Fatalf("%s ended (%v) without the expected output; stderr:\n%s", p.name, err, p.stderr.String())
		}
		return l
	case <-time.After(60 * time.Second):
		p.t.Fatalf("%s: no output within 60s; stderr:\n%s", p.name, p.stderr.String())
	}
	return ""
}

func (p *proc) expect(want string) {
	p.t.Helper()
	if got := p.line(); got != want {
		p.t.Fatalf("%s printed %q, want %q; stderr:\n%s", p.name, got, want, p.stderr.String())
	}
}

// open lets a writer started with "gate" begin.
func (p *proc) open() {
	p.t.Helper()
	if _, err := p.stdin.Write([]byte{'\n'}); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the role to exit and checks that it succeeded.
func (p *proc) wait() {
	p.t.Helper()
	for range p.lines {
	}
	if err := <-p.done; err != nil {
		p.t.Fatalf("%s: %v; stderr:\n%s", p.name, err, p.stderr.String())
	}
}

// summary is a reader's last line.
type summary struct {
	records, bytes, lostRecords, lostBytes uint64
	end                                    string
	writers                                string
}

func parseSummary(t *testing.T, line string) summary {
	t.Helper()
	var s summary
	n, err := fmt.Sscanf(line, "records %d bytes %d lost %d %d end %s writers", &s.records, &s.bytes, &s.lostRecords, &s.lostBytes, &s.end)
	if err != nil || n != 5 {
		t.Fatalf("reader summary %q: %v", line, err)
	}
	_, s.writers, _ = strings.Cut(line, " writers")
	s.writers = strings.TrimSpace(s.writers)
	return s
}
