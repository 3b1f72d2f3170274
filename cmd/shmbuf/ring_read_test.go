package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// waitRing polls the ring's Stat until cond holds, for up to 10 s.
func waitRing(t *testing.T, name, what string, cond func(shmbuf.RingStat) bool) {
	t.Helper()
	r, err := shmbuf.OpenRing(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(time.Millisecond)
	}
}

// startShmbuf starts the command and kills it at cleanup if it is still
// running.
func startShmbuf(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

var lostLine = regexp.MustCompile(`lost (\d+) records`)

// TestReadRing_OverwriteSlowPipe: `shmbuf read --until-end` of an overwrite ring
// through a slow pipe, while `shmbuf write` of numbered lines laps it,
// prints only lines that were written, whole, in increasing order without
// duplicates, and the losses it reports on stderr account for every line
// it did not print. Each line is its number repeated to about 200 bytes,
// so that a line spliced from two records is caught. The ring is larger
// than the reader's 64 KiB output buffer, so the buffer fills in the
// middle of a record while the pipe is full: the rest of that record used
// to be copied after the blocking flush, from a ring lapped meanwhile.
func TestReadRing_OverwriteSlowPipe(t *testing.T) {
	const n, width = 40000, 200
	name := uniqueName(t)
	if out, err := shmbufCmd("create", name, "--kind", "ring", "--size", "1MiB", "--policy", "overwrite").CombinedOutput(); err != nil {
		t.Fatalf("create: %v: %s", err, out)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	reader := shmbufCmd("read", "--until-end", name)
	var rerr bytes.Buffer
	reader.Stdout, reader.Stderr = pw, &rerr
	startShmbuf(t, reader)
	pw.Close()
	waitRing(t, name, "the reader to attach", func(st shmbuf.RingStat) bool { return len(st.Readers) == 1 })

	writer := shmbufCmd("write", name)
	win, err := writer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var werr bytes.Buffer
	writer.Stderr = &werr
	startShmbuf(t, writer)
	go func() {
		defer win.Close()
		for i := 1; i <= n; i++ {
			f := strconv.Itoa(i) + " "
			line := strings.TrimSuffix(strings.Repeat(f, max(2, width/len(f))), " ") + "\n"
			if _, err := io.WriteString(win, line); err != nil {
				return
			}
		}
	}()

	// The slow consumer.
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		m, err := pr.Read(buf)
		out.Write(buf[:m])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := writer.Wait(); err != nil {
		t.Fatalf("write: %v: %s", err, werr.Bytes())
	}
	err = reader.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Errorf("read --until-end exited with %v, want status 1 after losses; stderr %q", err, rerr.String())
	}

	var lost uint64
	for _, m := range lostLine.FindAllStringSubmatch(rerr.String(), -1) {
		k, _ := strconv.ParseUint(m[1], 10, 64)
		lost += k
	}
	var delivered, last uint64
	bad := 0
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if line == "" {
			break
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseUint(fields[0], 10, 64)
		switch {
		case err != nil || !strings.HasSuffix(line, "\n") || strings.Count(line, fields[0]+" ") != len(fields)-1 || len(line) < width-20:
			bad++
			if bad <= 5 {
				t.Errorf("a line after line %d is not a line that was written: %.60q...%.60q", last, line, line[max(0, len(line)-60):])
			}
		case v <= last:
			bad++
			if bad <= 5 {
				t.Errorf("line %d after %d: duplicated or out of order", v, last)
			}
		default:
			last = v
		}
		delivered++
	}
	if bad > 0 {
		t.Errorf("%d bad lines of %d printed", bad, delivered)
	}
	if delivered+lost != n {
		t.Errorf("printed %d + reported lost %d = %d lines; %d were written", delivered, lost, delivered+lost, n)
	}
	if lost == 0 {
		t.Errorf("the reader was never lapped: the test did not exercise overwrite")
	}
	t.Logf("%d lines written: %d printed, %d reported lost", n, delivered, lost)
}

// TestReadRing_WriterKilled: `shmbuf read RING` (without -f) of a ring
// whose only writer was killed prints the records it left, then reports
// that the writer was lost and exits 1.
func TestReadRing_WriterKilled(t *testing.T) {
	name := uniqueName(t)
	if out, err := shmbufCmd("create", name, "--kind", "ring", "--size", "64KiB").CombinedOutput(); err != nil {
		t.Fatalf("create: %v: %s", err, out)
	}
	writer := shmbufCmd("write", name)
	win, err := writer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer win.Close()
	startShmbuf(t, writer)
	io.WriteString(win, "one\ntwo\nthree\n")
	// Three records of a 16-byte header and up to 8 bytes each.
	waitRing(t, name, "three records", func(st shmbuf.RingStat) bool { return st.Tail >= 3*24 })
	if err := writer.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	writer.Wait()

	var stdout, stderr bytes.Buffer
	read := shmbufCmd("read", name)
	read.Stdout, read.Stderr = &stdout, &stderr
	err = read.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
		t.Errorf("read exited with %v, want status 1", err)
	}
	if stdout.String() != "one\ntwo\nthree\n" {
		t.Errorf("stdout %q, want the three records", stdout.String())
	}
	if !strings.Contains(stderr.String(), shmbuf.ErrWriterLost.Error()) || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one line saying the writer was lost", stderr.String())
	}
}
