package shmbuf_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Raw segments are never shrunk under a process that maps them: a store
// of a shorter value replaces the file, and the mapper keeps the old one.

// pyMapper maps the segment named argv[1] with multiprocessing's
// shared_memory and reads every byte of the mapping in a loop until its
// stdin closes, then prints how many passes it made. A file shrunk under
// it kills it with SIGBUS.
const pyMapper = `
import sys, threading
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(shm._name, "shared_memory")
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print("ready", len(shm.buf), flush=True)
passes = 0
while not stop.is_set():
    data = bytes(shm.buf)
    passes += 1
print("passes", passes, flush=True)
shm.close()
`

// cMapper is pyMapper in C.
const cMapper = `
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char path[512];
	snprintf(path, sizeof path, "/dev/shm/%s", argv[1]);
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) { perror(path); return 1; }
	volatile const unsigned char *p = mmap(0, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) { perror("mmap"); return 1; }
	printf("ready %lld\n", (long long)st.st_size);
	fflush(stdout);
	unsigned long passes = 0, sum = 0;
	struct pollfd in = { .fd = 0, .events = POLLIN };
	while (poll(&in, 1, 0) == 0) {
		for (off_t i = 0; i < st.st_size; i++) sum += p[i];
		passes++;
	}
	printf("passes %lu %lu\n", passes, sum & 1);
	return 0;
}
`

// TestRaw_MapperSurvivesShorterValues: a Python or C process maps a raw
// segment shmbuf created and reads all of it in a loop while shmbuf
// stores shorter and longer values. It never dies, and the file holds
// exactly the latest value after each store.
func TestRaw_MapperSurvivesShorterValues(t *testing.T) {
	t.Parallel()
	mappers := map[string]func(t *testing.T, name string) *exec.Cmd{
		"python": func(t *testing.T, name string) *exec.Cmd {
			return exec.Command(testenv.Python(t), "-S", "-c", pyMapper, name) // -S: as startPython
		},
		"c": func(t *testing.T, name string) *exec.Cmd {
			gcc := testenv.Tool(t, "gcc")
			dir := t.TempDir()
			src, bin := filepath.Join(dir, "mapper.c"), filepath.Join(dir, "mapper")
			if err := os.WriteFile(src, []byte(cMapper), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(gcc, "-O1", "-o", bin, src).CombinedOutput(); err != nil {
				t.Fatalf("gcc: %v: %s", err, out)
			}
			return exec.Command(bin, name)
		},
	}
	for _, lang := range []string{"python", "c"} {
		t.Run(lang, func(t *testing.T) {
			name := uniqueName(t)
			path := filepath.Join(shmbuf.ShmDir, name)
			t.Cleanup(func() { os.Remove(path) })
			first := bytes.Repeat([]byte("first value, long enough to span pages. "), 2000)
			if err := shmbuf.StoreRaw(name, first, 0); err != nil {
				t.Fatal(err)
			}
			cmd := mappers[lang](t, name)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
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
			lines := bufio.NewReader(stdout)
			if line, err := lines.ReadString('\n'); err != nil || !strings.HasPrefix(line, "ready ") {
				t.Fatalf("mapper said %q, %v", line, err)
			}
			r, err := shmbuf.OpenRaw(name)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			stores := 0
			for deadline := time.Now().Add(testenv.ShortOrLong(300*time.Millisecond, 10*time.Second)); time.Now().Before(deadline); stores++ {
				var v []byte
				switch stores % 4 {
				case 0:
					v = []byte("x")
				case 1:
					v = bytes.Repeat([]byte("longer than the first "), 5000)
				case 2:
					v = nil
				case 3:
					v = []byte("short\n")
				}
				store := r.Store
				if stores%2 == 1 {
					store = func(p []byte) error { return shmbuf.StoreRaw(name, p, 0) }
				}
				if err := store(v); err != nil {
					t.Fatalf("store %d: %v", stores, err)
				}
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, v) {
					t.Fatalf("after store %d the file holds %d bytes (%v), want exactly the %d-byte value", stores, len(got), err, len(v))
				}
				time.Sleep(time.Millisecond) // let the mapper read
			}
			stdin.Close()
			last, _ := lines.ReadString('\n')
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the %s mapper died while shmbuf stored shorter values: %v (output %q)", lang, err, last)
			}
			if !strings.HasPrefix(last, "passes ") || strings.HasPrefix(last, "passes 0") {
				t.Fatalf("mapper output %q: it never read its mapping", last)
			}
			t.Logf("%s mapper alive after %d stores; %s", lang, stores, strings.TrimSpace(last))
		})
	}
}

// TestRaw_HandleFollowsPath: a Raw opened before another process replaced
// or removed the segment reads and writes what the path names now; it
// never writes into a file that is no longer there.
func TestRaw_HandleFollowsPath(t *testing.T) {
	t.Parallel()
	for _, b := range segBackends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.addr(t)
			if err := shmbuf.StoreRaw(addr, []byte("one"), 0); err != nil {
				t.Fatal(err)
			}
			r, err := shmbuf.OpenRaw(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := shmbuf.StoreRaw(addr, []byte("two, from another handle"), 0); err != nil {
				t.Fatal(err)
			}
			if got := mustLoadRaw(t, r); string(got) != "two, from another handle" {
				t.Fatalf("Load = %q", got)
			}
			if err := r.Store([]byte("three")); err != nil {
				t.Fatal(err)
			}
			if got := segmentContent(t, addr); string(got) != "three" {
				t.Fatalf("file = %q", got)
			}

			s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64, Force: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wantErr(t, "Store after a snapshot replaced the segment", r.Store([]byte("lost?")), shmbuf.ErrWrongKind, addr)
			_, err = r.Load()
			wantErr(t, "Load after a snapshot replaced the segment", err, shmbuf.ErrWrongKind, addr)
			if err := shmbuf.Remove(addr); err != nil {
				t.Fatal(err)
			}
			wantErr(t, "Store after removal", r.Store([]byte("lost?")), shmbuf.ErrNotExist, addr)
			_, err = r.Load()
			wantErr(t, "Load after removal", err, shmbuf.ErrNotExist, addr)
			if err := shmbuf.StoreRaw(addr, []byte("again"), 0); err != nil {
				t.Fatal(err)
			}
			if got := mustLoadRaw(t, r); string(got) != "again" {
				t.Fatalf("Load after re-creation = %q", got)
			}
			if _, err := os.Stat(filePath(t, addr)); errors.Is(err, os.ErrNotExist) {
				t.Fatal("segment gone")
			}
		})
	}
}
