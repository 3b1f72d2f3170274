package shmbuf_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Interoperability with the programs docs/DESIGN.md names: Python's
// multiprocessing.shared_memory on /dev/shm, and util-linux's ipcmk, ipcs
// and ipcrm on System V. CI installs them; a missing one skips the test
// (fails it under SHMBUF_REQUIRE=1, see testenv.Missing).

// python starts script with args and returns its stdin and a line reader
// on its stdout; t.Cleanup kills it if still running.
type pyProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startPython(t *testing.T, script string, args ...string) *pyProc {
	t.Helper()
	// -S: the scripts need only the standard library, and site's
	// start-up (whatever installed packages' .pth files import) would be
	// most of each start's CPU.
	py := testenv.Python(t)
	cmd := exec.Command(py, append([]string{"-S", "-c", script}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &pyProc{cmd, stdin, bufio.NewReader(stdout)}
}

// line reads one line from Python, failing the test after 30 s.
func (p *pyProc) line(t *testing.T) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := p.out.ReadString('\n'); ch <- res{s, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("python: %v (got %q)", r.err, r.s)
		}
		return strings.TrimSuffix(r.s, "\n")
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("python did not answer within 30 s")
		return ""
	}
}

func (p *pyProc) wait(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("python: %v", err)
	}
}

// pyCreator creates a 4096-byte segment, fills it, and keeps it mapped
// while shmbuf writes into it; then it reads every byte of its mapping
// (a shrunk file would kill it with SIGBUS) and prints what it sees.
const pyCreator = `
import os, sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(create=True, size=4096, name=sys.argv[1])
# Without this the resource tracker unlinks the segment when we exit.
resource_tracker.unregister(shm._name, "shared_memory")
data = b"written by python\n"
shm.buf[:len(data)] = data
print("ready", flush=True)
sys.stdin.readline()
raw = bytes(shm.buf)
print(len(raw), os.fstat(shm._fd).st_size, raw.rstrip(b"\0").hex(), raw[len(raw.rstrip(b"\0")):].count(0), flush=True)
shm.close()
`

func TestInterop_PythonCreates(t *testing.T) {
	t.Parallel()
	name := uniqueName(t)
	path := shmbuf.ShmDir + "/" + name
	t.Cleanup(func() { os.Remove(path) })
	py := startPython(t, pyCreator, name)
	if got := py.line(t); got != "ready" {
		t.Fatalf("python: %q", got)
	}

	r, err := shmbuf.OpenRaw(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Fixed() {
		t.Fatal("Python's segment is not treated as a fixed region")
	}
	if v, err := r.Load(); err != nil || string(v) != "written by python\n" {
		t.Fatalf("Load = %q, %v", v, err)
	}
	if k, err := kindAt(name); err != nil || k != shmbuf.KindUnknown {
		t.Fatalf("kind = %v, %v", k, err)
	}
	wantErr(t, "Store larger than Python's region", r.Store(make([]byte, 4097)), shmbuf.ErrTooLarge, name)
	const reply = "from shmbuf"
	if err := shmbuf.StoreRaw(name, []byte(reply), 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 4096 {
		t.Fatalf("segment resized under Python's mapping: %v, %v", fi, err)
	}

	fmt.Fprintln(py.stdin)
	fields := strings.Fields(py.line(t))
	if len(fields) != 4 {
		t.Fatalf("python printed %q", fields)
	}
	got, err := hex.DecodeString(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	if fields[0] != "4096" || fields[1] != "4096" || string(got) != reply {
		t.Fatalf("python sees %s bytes mapped, file %s bytes, content %q; want 4096, 4096, %q", fields[0], fields[1], got, reply)
	}
	if fields[3] != strconv.Itoa(4096-len(reply)) {
		t.Fatalf("python sees %s padding NULs, want %d", fields[3], 4096-len(reply))
	}
	py.wait(t)
}

// pyAttacher attaches to an existing segment, prints its content, writes a
// reply of the same size in place and exits.
const pyAttacher = `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
# Python 3.11 registers attached segments too, and would unlink this one.
resource_tracker.unregister(shm._name, "shared_memory")
raw = bytes(shm.buf)
print(shm.size, raw.rstrip(b"\0").hex(), flush=True)
reply = sys.argv[2].encode()
shm.buf[:len(reply)] = reply
shm.buf[len(reply):] = bytes(shm.size - len(reply))
shm.close()
`

func TestInterop_PythonReads(t *testing.T) {
	t.Parallel()
	t.Run("resizable", func(t *testing.T) {
		// The workflow's segment: `echo hello | shmbuf write`.
		name := uniqueName(t)
		t.Cleanup(func() { os.Remove(shmbuf.ShmDir + "/" + name) })
		if err := shmbuf.StoreRaw(name, []byte("hello\n"), 0); err != nil {
			t.Fatal(err)
		}
		py := startPython(t, pyAttacher, name, "world\n")
		if got := py.line(t); got != "6 "+hex.EncodeToString([]byte("hello\n")) {
			t.Fatalf("python read %q", got)
		}
		py.wait(t)
		r, err := shmbuf.OpenRaw(name)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if v, err := r.Load(); err != nil || string(v) != "world\n" {
			t.Fatalf("Load after Python's write = %q, %v", v, err)
		}
		if _, err := os.Stat(shmbuf.ShmDir + "/" + name); err != nil {
			t.Fatalf("segment gone after Python exited: %v", err)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		name := uniqueName(t)
		t.Cleanup(func() { os.Remove(shmbuf.ShmDir + "/" + name) })
		w, err := shmbuf.CreateRaw(name, shmbuf.CreateOptions{Size: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Store([]byte("fixed hello")); err != nil {
			t.Fatal(err)
		}
		py := startPython(t, pyAttacher, name, "reply")
		if got := py.line(t); got != "4096 "+hex.EncodeToString([]byte("fixed hello")) {
			t.Fatalf("python read %q", got)
		}
		py.wait(t)
		if v, err := w.Load(); err != nil || string(v) != "reply" {
			t.Fatalf("Load after Python's write = %q, %v", v, err)
		}
	})
}

var ipcmkID = regexp.MustCompile(`Shared memory id: (\d+)`)

func TestInterop_Ipcmk(t *testing.T) {
	t.Parallel()
	ipcmk := testenv.Tool(t, "ipcmk")
	ipcs := testenv.Tool(t, "ipcs")
	ipcrm := testenv.Tool(t, "ipcrm")
	out, err := exec.Command(ipcmk, "-M", "4096").CombinedOutput()
	if err != nil {
		t.Fatalf("ipcmk: %v: %s", err, out)
	}
	m := ipcmkID.FindSubmatch(out)
	if m == nil {
		t.Fatalf("ipcmk printed %q", out)
	}
	id := string(m[1])
	t.Cleanup(func() { exec.Command(ipcrm, "-m", id).Run() })
	addr := "sysv-id:" + id

	if err := shmbuf.StoreRaw(addr, []byte("hello sysv"), 0); err != nil {
		t.Fatal(err)
	}
	r, err := shmbuf.OpenRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Fixed() {
		t.Fatal("a System V segment is not fixed")
	}
	if v, err := r.Load(); err != nil || string(v) != "hello sysv" {
		t.Fatalf("Load = %q, %v", v, err)
	}
	wantErr(t, "Store larger than the segment", r.Store(make([]byte, 4097)), shmbuf.ErrTooLarge, addr)
	r.Close()
	if got := segmentContent(t, addr); string(got) != string(padded("hello sysv", 4096)) {
		t.Fatal("segment is not the value zero-padded")
	}

	// Another process may attach for a moment (a `shmbuf ls` in the
	// command tests, which run in parallel, reads every segment's kind)
	// and become the last pid: attach again and re-check a few times.
	var info *shmbuf.SegmentInfo
	for try := 0; ; try++ {
		var err error
		if info, err = shmbuf.Stat(addr); err != nil {
			t.Fatal(err)
		}
		if info.Attached == 0 && info.LastPid == os.Getpid() || try == 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
		segmentContent(t, addr)
	}
	if info.Size != 4096 || info.Mode != 0o644 || info.Attached != 0 || info.Lockable || info.LastPid != os.Getpid() {
		t.Fatalf("Stat = %+v", info)
	}
	// The same segment by its key.
	byKey := fmt.Sprintf("sysv:%#x", uint32(info.Key))
	k, err := shmbuf.OpenRaw(byKey)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if v, err := k.Load(); err != nil || string(v) != "hello sysv" {
		t.Fatalf("Load by key = %q, %v", v, err)
	}

	out, err = exec.Command(ipcs, "-m", "-i", id).CombinedOutput()
	if err != nil {
		t.Fatalf("ipcs: %v: %s", err, out)
	}
	// Not lpid: the last attacher may since be another process's ls
	// (Stat's LastPid above is checked when nobody else attaches).
	for _, want := range []string{"shmid=" + id, "bytes=4096", "mode=0644"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("ipcs -m -i %s does not show %q:\n%s", id, want, out)
		}
	}
	out, err = exec.Command(ipcs, "-m").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^0x[0-9a-f]+\s+`+id+`\s`).Match(out) {
		t.Fatalf("ipcs -m does not list %s: %v\n%s", id, err, out)
	}
}
