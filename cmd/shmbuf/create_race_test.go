package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
	"github.com/spf13/pflag"
)

// raceRun is one process of a race: its command and, once it ended, its
// exit code and output.
type raceRun struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	code           int
	done           chan struct{}
}

func startRace(t *testing.T, stdin string, args ...string) *raceRun {
	t.Helper()
	r := &raceRun{cmd: shmbufCmd(args...), done: make(chan struct{})}
	// Under -race every process would sleep 1 s at exit (the race
	// runtime's atexit_sleep_ms), a hundred times over.
	r.cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	r.cmd.Stdin = strings.NewReader(stdin)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	return r
}

// wait waits for the process, killing it and failing the test after 20 s.
func (r *raceRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("shmbuf %q did not end within 20 s; stderr %q", r.cmd.Args[1:], r.stderr.String())
	}
}

// TestCreate_RacesWrite races `shmbuf create X --kind K` against `echo
// value | shmbuf write X` and a `shmbuf read -f X`, as three processes
// started together, many times. Whichever create wins, the loser acts on
// the winner's finished segment: either X is a K that holds the value
// (write went into it: a ring gets it as a record, a snapshot publishes
// it) and create succeeded, or the raw write won, X holds exactly the
// value and create failed with "already exists" (exit 2). X is never a
// plain file that replaced a K, and the reader never takes a K being built
// for a raw segment.
func TestCreate_RacesWrite(t *testing.T) {
	t.Parallel()
	trials := testenv.ShortOrLong(10, 200)
	for _, kind := range []string{"ring", "snapshot"} {
		t.Run(kind, func(t *testing.T) {
			won := map[string]int{}
			for trial := range trials {
				name := uniqueName(t)
				t.Cleanup(func() { shmbuf.Remove(name) })
				create := startRace(t, "", "create", name, "--kind", kind, "--size", "4MiB")
				write := startRace(t, "value\n", "write", name)
				read := startRace(t, "", "read", "-f", "--count", "1", name)
				create.wait(t)
				write.wait(t)
				read.wait(t)
				fail := func(format string, args ...any) {
					t.Helper()
					t.Fatalf("trial %d: "+format+"\ncreate: exit %d, %q\nwrite: exit %d, %q\nread -f: exit %d, stdout %q, stderr %q",
						append([]any{trial}, append(args,
							create.code, create.stderr.String(), write.code, write.stderr.String(),
							read.code, read.stdout.String(), read.stderr.String())...)...)
				}
				if write.code != 0 {
					fail("write failed")
				}
				k, err := kindAt(name)
				if err != nil {
					fail("after the race: %v", err)
				}
				value := catSegment(t, name)
				switch {
				case create.code == 0 && k.String() == kind:
					won[kind]++
					// A ring reader releases the records it read, so that
					// the next reader starts after them: the value may be
					// read -f's.
					released := kind == "ring" && value == "" && read.stdout.String() == "value\n"
					if value != "value\n" && !released {
						fail("the %s holds %q, want the value write put into it", kind, value)
					}
				case create.code == 1 && strings.Contains(create.stderr.String(), "already exists") && k == shmbuf.KindRaw:
					won["raw"]++
					if got, err := os.ReadFile(filepath.Join(shmbuf.ShmDir, name)); err != nil || string(got) != "value\n" {
						fail("the raw segment holds %q (%v), want exactly the value", got, err)
					}
				default:
					fail("the segment is a %q", k)
				}
				switch {
				case read.code == 0 && read.stdout.String() == "value\n":
				case read.code == 1 && strings.Contains(read.stderr.String(), "no such segment"):
				case strings.Contains(read.stderr.String(), "raw segment") && k == shmbuf.KindRaw:
				default:
					fail("read -f during the race")
				}
			}
			t.Logf("%d trials: %s won %d, the raw write %d", trials, kind, won[kind], won["raw"])
		})
	}
}

// catSegment prints the segment's value with `shmbuf read` (the records of
// a ring, the value of a snapshot).
func catSegment(t *testing.T, name string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := shmbufCmd("read", name)
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Fatalf("shmbuf read %s: %v: %s", name, err, errOut.String())
	}
	return out.String()
}

// TestCreate_WriteLosesToCreate: write found no segment, then another
// process created a ring or snapshot before write's first value. The value
// goes into the winner as its kind takes it; with --kind raw it is refused
// with ErrWrongKind and the winner is untouched.
func TestCreate_WriteLosesToCreate(t *testing.T) {
	for _, kind := range []string{"ring", "snapshot"} {
		t.Run(kind, func(t *testing.T) {
			name := uniqueName(t)
			s, err := openWriteSink(name, kindAuto)
			if err != nil {
				t.Fatal(err)
			}
			strict, err := openWriteSink(name, "raw")
			if err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "ring":
				r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: 4096})
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
			case "snapshot":
				sn, err := shmbuf.CreateSnapshot(name, shmbuf.CreateOptions{Size: 64})
				if err != nil {
					t.Fatal(err)
				}
				sn.Close()
			}
			if err := strict.put([]byte("raw only\n")); !errors.Is(err, shmbuf.ErrWrongKind) {
				t.Fatalf("write --kind raw into the %s that won: %v, want ErrWrongKind", kind, err)
			}
			strict.close()
			if err := s.put([]byte("one\ntwo\n")); err != nil {
				t.Fatalf("write into the %s that won: %v", kind, err)
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			if k, err := kindAt(name); err != nil || k.String() != kind {
				t.Fatalf("after the write: %v, %v; want %s", k, err, kind)
			}
			if got := catSegment(t, name); got != "one\ntwo\n" {
				t.Fatalf("the %s holds %q", kind, got)
			}
		})
	}
}

// openWriteSink opens the sink `shmbuf write --kind KIND NAME` would
// write into, through write's own validate and open steps.
func openWriteSink(name, kind string) (sink, error) {
	o := &writeOptions{
		io:       &streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard},
		flags:    pflag.NewFlagSet("write", pflag.ContinueOnError),
		target:   target{op: "write"},
		kindText: kind, modeText: "0600", waitText: "adaptive",
	}
	if err := o.validate([]string{name}); err != nil {
		return nil, err
	}
	return o.open(context.Background())
}

// kindAt is the kind Stat reports for the segment at addr.
func kindAt(addr string) (shmbuf.Kind, error) {
	info, err := shmbuf.Stat(addr)
	if err != nil {
		return shmbuf.KindUnknown, err
	}
	return info.Kind, nil
}
