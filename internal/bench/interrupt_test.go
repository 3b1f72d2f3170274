package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/bench/kipc"
	"golang.org/x/sys/unix"
)

// commandEnv makes the test binary run the bench command with the given
// arguments (JSON) and exit: a real process to interrupt.
const commandEnv = "SHMBUF_BENCH_TEST_COMMAND"

func runCommandIfRequested() {
	v, ok := os.LookupEnv(commandEnv)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(v), &args); err != nil {
		os.Exit(3)
	}
	cmd := NewCommand()
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestCommand_Interrupt starts a run in another process, interrupts it
// with SIGINT in the middle of measuring, and checks that every resource
// it made (as its trace lists them) and every peer it started is gone.
func TestCommand_Interrupt(t *testing.T) {
	// Interrupt once the run has made some resources, then later in the
	// run: by what the trace lists, not by the clock, so a slow machine
	// (the race detector, a loaded CI) still interrupts mid-run.
	for _, after := range []int{3, 8} {
		t.Run(fmt.Sprintf("after-%d-resources", after), func(t *testing.T) {
			trace := filepath.Join(t.TempDir(), "trace")
			args, _ := json.Marshal([]string{"--quiet", "--sizes", "64",
				"--transports", "fifo,posix-mq,sysv-mq,shm-file-flock,snapshot,ring-sysv,ring,pipe",
				"--phase", "20ms", "--reps", "3"})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), commandEnv+"="+string(args), traceEnv+"="+trace)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					cmd.Wait()
				}
			})
			deadline := time.Now().Add(60 * time.Second)
			for countResources(trace) < after {
				if time.Now().After(deadline) {
					t.Fatalf("the run made fewer than %d resources in 60 s", after)
				}
				time.Sleep(5 * time.Millisecond)
			}
			cmd.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Errorf("interrupted run exited with %v, want status 1", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the run did not stop within 10 s of SIGINT")
			}
			made := checkTrace(t, trace)
			if made < 3 {
				t.Errorf("the run made only %d resources before the interrupt: the test interrupted nothing", made)
			}
			prefix := "shmbuf-bench-" + strconv.Itoa(cmd.Process.Pid) + "-"
			if m, _ := filepath.Glob("/dev/shm/" + prefix + "*"); len(m) > 0 {
				t.Errorf("left in /dev/shm: %v", m)
			}
			if m, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*")); len(m) > 0 {
				t.Errorf("temporary directories left: %v", m)
			}
		})
	}
}

// countResources counts the non-peer lines of a trace written so far.
func countResources(path string) int {
	b, _ := os.ReadFile(path)
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasSuffix(line, "\n") && !strings.HasPrefix(line, "peer ") {
			n++
		}
	}
	return n
}

// checkTrace checks that each traced resource is gone and returns how
// many resources the run had made.
func checkTrace(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	made := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, what, _ := strings.Cut(sc.Text(), " ")
		if kind != "peer" {
			made++
		}
		switch kind {
		case "peer":
			pid, _ := strconv.Atoi(what)
			if err := unix.Kill(pid, 0); err != unix.ESRCH {
				t.Errorf("peer %d still exists (kill 0: %v)", pid, err)
			}
		case "segment":
			if _, err := shmbuf.Stat(what); !errors.Is(err, shmbuf.ErrNotExist) {
				t.Errorf("segment %s left (stat: %v)", what, err)
			}
		case "file", "fifo", "dir":
			if _, err := os.Lstat(what); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s %s left", kind, what)
			}
		case "mq":
			if fd, err := kipc.MqOpen(what, unix.O_RDONLY, 0, nil); err != unix.ENOENT {
				if err == nil {
					unix.Close(fd)
				}
				t.Errorf("message queue %s left (mq_open: %v)", what, err)
			}
		case "msqid":
			b, _ := os.ReadFile("/proc/sysvipc/msg")
			for _, l := range strings.Split(string(b), "\n")[1:] {
				if fs := strings.Fields(l); len(fs) > 1 && fs[1] == what {
					t.Errorf("System V queue %s left", what)
				}
			}
		case "unix-stream", "unix-seqpacket", "tcp-loopback", "pipe":
			// Descriptors only; they die with the processes.
		default:
			t.Errorf("unknown trace line %q", sc.Text())
		}
	}
	return made
}
