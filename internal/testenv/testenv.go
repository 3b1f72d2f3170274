// Package testenv tells the tests of every package what the machine
// running them has and how long they may take.
//
// A test that needs a tool (python3, gcc, setpriv, ipcmk, unshare), root
// or a kernel feature skips without it, saying what is missing, unless
// the environment has SHMBUF_REQUIRE=1 (.ci/run sets it): then it fails,
// so that CI proves everything. SHMBUF_LONG=1 asks for the long forms of
// the crash, race, torn-read and soak tests; the default forms are short
// enough for `go test ./...` to be run all the time.
package testenv

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Required reports whether SHMBUF_REQUIRE=1 asks every test to run.
func Required() bool { return os.Getenv("SHMBUF_REQUIRE") == "1" }

// Missing ends t for want of what (a tool, root, a kernel feature): a
// skip that names it, or a failure when Required.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is missing, and SHMBUF_REQUIRE=1 requires every test to run", what)
	}
	t.Skipf("%s is missing", what)
}

// Tool returns the path of the program name, or ends t with Missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name)
	}
	return p
}

// Python returns the Python 3 interpreter that python3 on PATH runs, or
// ends t with Missing. python3 is often a launcher (pyenv's shim is a
// shell script that runs a dozen processes to pick a version) that costs
// more than the interpreter's own start, and tests start Python dozens of
// times: they run the interpreter itself, as python3 would.
func Python(t testing.TB) string {
	t.Helper()
	py := Tool(t, "python3")
	pythonOnce.Do(func() {
		out, err := exec.Command(py, "-S", "-c", "import sys; print(sys.executable)").Output()
		if exe := strings.TrimSpace(string(out)); err == nil && filepath.IsAbs(exe) {
			pythonExe = exe
		}
	})
	if pythonExe == "" {
		return py
	}
	return pythonExe
}

var (
	pythonOnce sync.Once
	pythonExe  string
)

// Root ends t with Missing unless the process runs as root; why says
// what needs it.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root ("+why+")")
	}
}

// Long reports whether SHMBUF_LONG asks for the long forms of the tests.
func Long() bool { return os.Getenv("SHMBUF_LONG") != "" }

// ShortOrLong returns short, or long when Long.
func ShortOrLong[T any](short, long T) T {
	if Long() {
		return long
	}
	return short
}

// RaiseParallel lets up to n parallel tests run at once, more than the
// -test.parallel default of GOMAXPROCS, for test binaries whose tests
// mostly wait (for child processes, liveness ticks, timeouts) rather than
// compute. A -test.parallel on the command line wins. Call it from
// TestMain, before m.Run.
func RaiseParallel(n int) {
	for _, arg := range os.Args[1:] {
		if strings.HasPrefix(strings.TrimLeft(arg, "-"), "test.parallel") {
			return
		}
	}
	if flag.Lookup("test.parallel") != nil {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}
