package shmbuf_test

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
	"go.uber.org/goleak"
)

// childEnv selects the role a re-executed test binary plays. Tests that
// need a peer in another process register a role in childRoles (from an
// init function in their own file) and start it with startChild.
const childEnv = "SHMBUF_TEST_CHILD"

// childRoles maps a role name to the function the child runs; its result
// is the child's exit code. Arguments arrive in the environment.
var childRoles = map[string]func() int{}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		f, ok := childRoles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child role %q\n", role)
			os.Exit(3)
		}
		os.Exit(f())
	}
	// Under -race every child would sleep a second at exit (the race
	// runtime's atexit_sleep_ms) for late race reports; races are still
	// reported. A user's own GORACE stays.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// Most tests wait on child processes and liveness ticks; those that
	// compute (torn reads, soaks, the idle-CPU check) are not parallel.
	testenv.RaiseParallel(8)
	goleak.VerifyTestMain(m)
}

// childCmd returns a command that re-executes this test binary as role,
// with env ("KEY=VALUE") added. The caller starts it; t.Cleanup kills it
// if it is still running when the test ends.
func childCmd(t testing.TB, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// uniqueName returns a segment name no other test or run uses.
func uniqueName(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("shmbuf-test-%d-%s-%d", os.Getpid(), sanitize(t.Name()), nextID())
}

var idCounter atomic.Int64

func nextID() int64 { return idCounter.Add(1) }

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == ' ' {
			b[i] = '_'
		}
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}

// kindAt is the kind Stat reports for the segment at addr.
func kindAt(addr string) (shmbuf.Kind, error) {
	info, err := shmbuf.Stat(addr)
	if err != nil {
		return shmbuf.KindUnknown, err
	}
	return info.Kind, nil
}

// usageAt is the Usage of the segment at addr, as Usages gives it.
func usageAt(addr string) (*shmbuf.Usage, error) {
	info, err := shmbuf.Stat(addr)
	if err != nil {
		return nil, err
	}
	if u := shmbuf.Usages([]shmbuf.SegmentInfo{*info})[0]; u != nil {
		return u, nil
	}
	return nil, fmt.Errorf("%s could not be inspected", addr)
}

// waitEnv is the wait strategy an environment variable of a child names
// ("spin", "block"; anything else is adaptive).
func waitEnv(name string) shmbuf.WaitStrategy {
	switch os.Getenv(name) {
	case "spin":
		return shmbuf.WaitSpin
	case "block":
		return shmbuf.WaitBlock
	}
	return shmbuf.WaitAdaptive
}

// noticeBound is how long after a kill -9 a test lets a peer take to
// notice it. Waiters check every TestCheckEvery, so it is noticed in tens
// of milliseconds; the bound is generous because the machine running the
// tests may be loaded. The tests log the slowest time they saw.
const noticeBound = 5 * time.Second
