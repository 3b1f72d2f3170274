package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/bench"
	"github.com/shmbuf/shmbuf/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as the shmbuf command: testscript
// puts a copy named "shmbuf" on the scripts' PATH, and the Go tests run it
// through shmbufCmd.
func TestMain(m *testing.M) {
	// A bench run started by a script re-executes this test binary as its
	// peers.
	bench.RunPeerIfRequested()
	// Under -race every process this binary starts as shmbuf would sleep
	// a second at exit (the race runtime's atexit_sleep_ms) for late race
	// reports: hundreds of commands would take minutes. Races are still
	// reported; a user's own GORACE stays.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// Scripts and examples mostly wait for the commands they run.
	testenv.RaiseParallel(8)
	testscript.Main(m, map[string]func(){
		"shmbuf": func() { os.Exit(Main()) },
	})
}

// TestScripts runs testdata/*.txtar. Each script gets, in its environment:
//
//	N     a segment-name prefix unique to this run and script; everything
//	      in /dev/shm starting with it is removed when the script ends
//	KEY   KEY2  System V keys unique to this run and script, removed at the
//	      end as well
//
// and the commands documented on scriptCmds.
func TestScripts(t *testing.T) {
	// Each script's names and keys are its own (setupScript): the scripts
	// run beside the other parallel tests, TestExamples' sandboxes above
	// all, whose waits they fill.
	t.Parallel()
	scriptPythonDir = pythonDir(t)
	testscript.Run(t, testscript.Params{
		Dir:       "testdata",
		Setup:     setupScript,
		Cmds:      scriptCmds,
		Condition: scriptCondition,
	})
}

var scriptCounter atomic.Int64

// scriptPythonDir, first on the scripts' PATH, holds python3: a link to
// the interpreter python3 runs (testenv.Python), so that a script's
// python3 costs no launcher (pyenv's shim runs a dozen processes). ""
// without python3, which the scripts that need it skip or fail on.
var scriptPythonDir string

func pythonDir(t *testing.T) string {
	if _, err := exec.LookPath("python3"); err != nil {
		return ""
	}
	dir := t.TempDir()
	if err := os.Symlink(testenv.Python(t), filepath.Join(dir, "python3")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func setupScript(env *testscript.Env) error {
	n := scriptCounter.Add(1)
	prefix := fmt.Sprintf("shmbuf-ts-%d-%d-%s", os.Getpid(), n, strings.TrimPrefix(filepath.Base(env.WorkDir), "script-"))
	// Keys: 0x5b, then 16 bits of the pid, then 7 bits of the script
	// counter and one bit for KEY or KEY2.
	base := 0x5b000000 | uint32(os.Getpid()&0xffff)<<8 | uint32(n&0x7f)<<1
	keys := []string{fmt.Sprintf("0x%08x", base), fmt.Sprintf("0x%08x", base+1)}
	env.Setenv("N", prefix)
	if scriptPythonDir != "" {
		env.Setenv("PATH", scriptPythonDir+string(os.PathListSeparator)+env.Getenv("PATH"))
	}
	env.Setenv("GORACE", os.Getenv("GORACE"))
	env.Setenv("KEY", keys[0])
	env.Setenv("KEY2", keys[1])
	env.Defer(func() {
		// os.Remove, not shmbuf.Remove: a symlink a script planted must go
		// too (its target, in $WORK, goes with the work directory).
		paths, _ := filepath.Glob(filepath.Join(shmbuf.ShmDir, prefix+"*"))
		for _, p := range paths {
			os.Remove(p)
		}
		for _, k := range keys {
			shmbuf.Remove("sysv:" + k)
		}
	})
	return nil
}

// scriptCmds are the scripts' own commands:
//
//	exits CODE PROG [ARGS...]
//	    run PROG like exec and require exit code CODE; stdout and stderr
//	    are kept for the following checks
//	ipcid VAR
//	    parse "Shared memory id: N" from the last stdout (ipcmk -M), set
//	    VAR to N and remove that segment when the script ends
//	poke FILE OFFSET BYTE
//	    overwrite one byte of FILE (decimal offset and value)
//	claimdefault
//	    serialise use of /dev/shm/shared_buffer with other test runs (flock
//	    on /dev/shm) and remove it when the script ends, unless it existed
//	    before, which [defaultbusy] then reports
//	settle PROG [ARGS...] -- REGEXP...
//	    run PROG like exec, again every 50 ms for up to 10 s, until its
//	    stdout matches every REGEXP (as stdout would); its last stdout and
//	    stderr are kept for the following checks. For "nobody uses it":
//	    any process on the machine running ls or rm --stale (other tests,
//	    other test runs) has each segment of /dev/shm open or mapped for
//	    a moment while it inspects it, which makes it in use, and so not
//	    stale, for that moment.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"settle": func(ts *testscript.TestScript, neg bool, args []string) {
		sep := slices.Index(args, "--")
		if neg || sep < 1 || sep == len(args)-1 {
			ts.Fatalf("usage: settle PROG [ARGS...] -- REGEXP...")
		}
		var res []*regexp.Regexp
		for _, s := range args[sep+1:] {
			re, err := regexp.Compile("(?m)" + s)
			ts.Check(err)
			res = append(res, re)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ts.Check(ts.Exec(args[0], args[1:sep]...))
			out := ts.ReadFile("stdout")
			missing := slices.IndexFunc(res, func(re *regexp.Regexp) bool { return !re.MatchString(out) })
			if missing < 0 {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s: no match for %q in stdout after 10 s", args[0], res[missing])
			}
			time.Sleep(50 * time.Millisecond)
		}
	},
	"exits": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: exits CODE PROG [ARGS...]")
		}
		want, err := strconv.Atoi(args[0])
		ts.Check(err)
		err = ts.Exec(args[1], args[2:]...)
		got := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			got = ee.ExitCode()
		case err != nil:
			ts.Fatalf("%s: %v", args[1], err)
		}
		if got != want {
			ts.Fatalf("%s exited %d, want %d", args[1], got, want)
		}
	},
	"ipcid": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: ipcid VAR")
		}
		out := ts.ReadFile("stdout")
		_, idText, ok := strings.Cut(out, "Shared memory id:")
		if !ok {
			ts.Fatalf("no %q in stdout %q", "Shared memory id:", out)
		}
		id, err := strconv.Atoi(strings.TrimSpace(idText))
		ts.Check(err)
		var d unix.SysvShmDesc
		_, err = unix.SysvShmCtl(id, unix.IPC_STAT, &d)
		ts.Check(err)
		key := d.Perm.Key
		ts.Setenv(args[0], strconv.Itoa(id))
		ts.Defer(func() {
			// The script may have removed it already and the id been
			// reused since: remove it only if it is still the one
			// ipcmk made (same random key).
			var now unix.SysvShmDesc
			if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &now); err == nil && now.Perm.Key == key {
				unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			}
		})
	},
	"poke": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 3 {
			ts.Fatalf("usage: poke FILE OFFSET BYTE")
		}
		off, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		b, err := strconv.ParseUint(args[2], 10, 8)
		ts.Check(err)
		f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY, 0)
		ts.Check(err)
		_, err = f.WriteAt([]byte{byte(b)}, off)
		ts.Check(errors.Join(err, f.Close()))
	},
	"claimdefault": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: claimdefault")
		}
		dir, err := os.Open(shmbuf.ShmDir)
		ts.Check(err)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			err := unix.Flock(int(dir.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
				dir.Close()
				ts.Fatalf("lock %s for the default segment: %v", shmbuf.ShmDir, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		path := filepath.Join(shmbuf.ShmDir, shmbuf.DefaultName)
		_, err = os.Lstat(path)
		existed := err == nil
		ts.Defer(func() {
			if !existed {
				os.Remove(path)
			}
			dir.Close() // releases the flock
		})
	},
}

// scriptCondition answers [tool:NAME]: the program NAME is installed;
// [defaultbusy]: /dev/shm/shared_buffer exists (and is not this test's:
// claimdefault ran before); and [unshare]: the script may run commands in
// a new pid namespace (root and unshare(1)). SHMBUF_REQUIRE=1 makes a
// missing tool or namespace an error.
func scriptCondition(cond string) (bool, error) {
	if name, ok := strings.CutPrefix(cond, "tool:"); ok {
		if _, err := exec.LookPath(name); err == nil {
			return true, nil
		}
		if testenv.Required() {
			return false, fmt.Errorf("[%s]: %s is missing (SHMBUF_REQUIRE=1)", cond, name)
		}
		return false, nil
	}
	switch cond {
	case "defaultbusy":
		_, err := os.Lstat(filepath.Join(shmbuf.ShmDir, shmbuf.DefaultName))
		return err == nil, nil
	case "unshare":
		_, err := exec.LookPath("unshare")
		if os.Geteuid() == 0 && err == nil {
			return true, nil
		}
		if testenv.Required() {
			return false, errors.New("[unshare]: needs root and unshare(1) (SHMBUF_REQUIRE=1)")
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// shmbufCmd runs this test binary as the shmbuf command (TestMain
// dispatches on the base name of argv[0]).
func shmbufCmd(args ...string) *exec.Cmd {
	return &exec.Cmd{Path: os.Args[0], Args: append([]string{"shmbuf"}, args...)}
}

var nameCounter atomic.Int64

// uniqueName returns a segment name no other test or run uses; the
// segment is removed when the test ends.
func uniqueName(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("shmbuf-test-%d-%s-%d", os.Getpid(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), nameCounter.Add(1))
	t.Cleanup(func() { os.Remove(filepath.Join(shmbuf.ShmDir, name)) })
	return name
}
