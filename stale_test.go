package shmbuf_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Stale-segment suite: a segment is stale only when shmbuf made it,
// nobody uses it (every process it records is dead, no live process maps,
// holds or attaches it, no liveness lock is held) and it was last written
// long enough ago. Processes that exited after writing leave data.

func init() {
	childRoles["make-snapshot"] = func() int {
		s, err := shmbuf.CreateSnapshot(os.Getenv("SHMBUF_ADDR"), shmbuf.CreateOptions{Size: 64})
		if err != nil {
			return childFail("%v", err)
		}
		if err := s.Publish([]byte("v")); err != nil {
			return childFail("%v", err)
		}
		s.Close()
		return holdUntilStdinCloses()
	}
	childRoles["make-ring"] = func() int {
		r, err := shmbuf.CreateRing(os.Getenv("SHMBUF_ADDR"), shmbuf.RingOptions{Size: 4096})
		if err != nil {
			return childFail("%v", err)
		}
		r.Close()
		return holdUntilStdinCloses()
	}
	childRoles["hold-segment"] = func() int {
		a, err := shmbuf.ParseAddress(os.Getenv("SHMBUF_ADDR"))
		if err != nil {
			return childFail("%v", err)
		}
		seg, err := shmbuf.OpenSegment(a, true)
		if err != nil {
			return childFail("%v", err)
		}
		defer seg.Close()
		return holdUntilStdinCloses()
	}
	childRoles["hold-raw"] = func() int {
		r, err := shmbuf.OpenRawReadOnly(os.Getenv("SHMBUF_ADDR"))
		if err != nil {
			return childFail("%v", err)
		}
		defer r.Close()
		return holdUntilStdinCloses()
	}
	childRoles["ring-write-one"] = func() int {
		// One record, and no Close: the process is killed holding its
		// writer slot.
		r, err := shmbuf.OpenRing(os.Getenv("SHMBUF_ADDR"))
		if err != nil {
			return childFail("%v", err)
		}
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			return childFail("%v", err)
		}
		if _, err := w.Write([]byte("one")); err != nil {
			return childFail("%v", err)
		}
		return holdUntilStdinCloses()
	}
	childRoles["write-twice"] = writeTwiceChild
	childRoles["stale-ring-reader"] = func() int {
		r, err := shmbuf.OpenRing(os.Getenv("SHMBUF_ADDR"))
		if err != nil {
			return childFail("%v", err)
		}
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			return childFail("%v", err)
		}
		// The reader stays attached until the process exits: its slot
		// records it, and its mapping makes it a user as well.
		defer rd.Close()
		return holdUntilStdinCloses()
	}
}

// writeTwiceChild creates a KIND (snapshot or ring) at SHMBUF_ADDR,
// writes one value or record, prints "ready", waits for a line on stdin,
// writes again through the same mapping, prints "done" and exits.
func writeTwiceChild() int {
	addr := os.Getenv("SHMBUF_ADDR")
	var write func(string) error
	var closeAll func()
	switch os.Getenv("KIND") {
	case "snapshot":
		s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64})
		if err != nil {
			return childFail("%v", err)
		}
		write = func(v string) error { return s.Publish([]byte(v)) }
		closeAll = func() { s.Close() }
	case "ring":
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096})
		if err != nil {
			return childFail("%v", err)
		}
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			return childFail("%v", err)
		}
		write = func(v string) error { _, err := w.Write([]byte(v)); return err }
		closeAll = func() { w.Close(); r.Close() }
	default:
		return childFail("KIND %q", os.Getenv("KIND"))
	}
	if err := write("a"); err != nil {
		return childFail("%v", err)
	}
	os.Stdout.WriteString("ready\n")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return childFail("%v", err)
	}
	if err := write("b"); err != nil {
		return childFail("%v", err)
	}
	closeAll()
	os.Stdout.WriteString("done\n")
	return 0
}

// holdUntilStdinCloses prints "ready" and waits for the parent to close
// (or kill) it, when HOLD is set; otherwise it returns at once.
func holdUntilStdinCloses() int {
	if os.Getenv("HOLD") == "" {
		return 0
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startHolder runs role for addr and waits until it is ready. Closing the
// returned pipe lets it exit; cleanup kills it regardless.
func startHolder(t *testing.T, role, addr string) (stop func()) {
	t.Helper()
	cmd := childCmd(t, role, "SHMBUF_ADDR="+addr, "HOLD=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("%s child: %q, %v", role, line, err)
	}
	return func() {
		in.Close()
		cmd.Wait()
	}
}

func usage(t *testing.T, addr string) *shmbuf.Usage {
	t.Helper()
	u, err := usageAt(addr)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// unused checks that nobody uses the segment at addr, so that Stale
// depends on its age alone, and returns its usage. It asks again, for up
// to 10 s, while the segment is in use: any process on the machine that
// runs List and Usages (ls, rm --stale, other tests) has every segment
// open or mapped for a moment while it inspects it.
func unused(t *testing.T, addr string) *shmbuf.Usage {
	t.Helper()
	u := notInUse(t, addr)
	if !u.Stale(0) {
		t.Fatalf("%s: unused but not stale at age 0: %+v", addr, u)
	}
	return u
}

// notInUse returns the usage of the segment at addr once nobody uses it,
// asking again for up to 10 s (see unused).
func notInUse(t *testing.T, addr string) *shmbuf.Usage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u := usage(t, addr)
		if !u.InUse() {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: in use (%+v) for 10 s, want unused", addr, u)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// age sets the modification time of the file behind addr to d ago.
func age(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	past := time.Now().Add(-d)
	if err := os.Chtimes(filePath(t, addr), past, past); err != nil {
		t.Fatal(err)
	}
}

func TestStale_SnapshotOfDeadCreator(t *testing.T) {
	t.Parallel()
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })

	stop := startHolder(t, "make-snapshot", addr)
	if u := usage(t, addr); !u.InUse() || u.Stale(0) {
		t.Fatalf("snapshot with a live creator not in use: %+v", u)
	}
	stop()
	// Its creator and writer died and nobody uses it: stale by use, but
	// it was written just now, so it is data, not garbage.
	if u := unused(t, addr); u.Stale(time.Hour) {
		t.Fatalf("snapshot written just now is stale: %+v", u)
	}
	// A live process mapping it makes it in use again.
	stopHolder := startHolder(t, "hold-segment", addr)
	u := usage(t, addr)
	if u.Stale(0) || len(u.Users) == 0 { // another process's inspection may be there too

		t.Fatalf("snapshot mapped by a live process: %+v", u)
	}
	stopHolder()
	unused(t, addr)
}

func TestStale_SysVAttachCounts(t *testing.T) {
	t.Parallel()
	addr, r := createSysVRaw(t, 0)
	r.Close()
	shmbuf.Remove(addr)
	// Reuse the free key for a snapshot made by a child that exits.
	cmd := childCmd(t, "make-snapshot", "SHMBUF_ADDR="+addr)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shmbuf.Remove(addr) })
	if u := unused(t, addr); u.Attached != 0 || u.Stale(time.Hour) {
		t.Fatalf("unattached System V snapshot of a dead creator, written just now: %+v", u)
	}
	stop := startHolder(t, "hold-segment", addr)
	if u := usage(t, addr); u.Stale(0) || u.Attached < 1 { // or more: another process's ls

		t.Fatalf("System V snapshot attached by a live process: %+v", u)
	}
	stop()
}

func TestStale_RingWithLiveReader(t *testing.T) {
	t.Parallel()
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	if err := childCmd(t, "make-ring", "SHMBUF_ADDR="+addr).Run(); err != nil {
		t.Fatal(err)
	}
	unused(t, addr)
	stop := startHolder(t, "stale-ring-reader", addr)
	u := usage(t, addr)
	if u.Stale(0) || !slices.ContainsFunc(u.Recorded, func(p shmbuf.RecordedProcess) bool {
		return p.Role == "reader" && p.Alive
	}) {
		t.Fatalf("ring with a live reader: %+v", u)
	}
	stop()
}

// TestStale_FreshlyWritten: a snapshot, raw segment or ring whose writer
// wrote and exited holds data: not stale under the default age, on every
// backend shmbuf can mark; stale once any age is accepted, since nobody
// uses it.
func TestStale_FreshlyWritten(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, role, addr string }{
		{"snapshot/posix", "make-snapshot", posixTestAddr(t)},
		{"snapshot/sysv", "make-snapshot", sysvTestAddr(t)},
		{"ring/posix", "make-ring", posixTestAddr(t)},
		{"ring/sysv", "make-ring", sysvTestAddr(t)},
		{"raw/posix", "", posixTestAddr(t)},
		{"raw/file", "", fileTestAddr(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { shmbuf.Remove(c.addr) })
			if c.role != "" {
				if err := childCmd(t, c.role, "SHMBUF_ADDR="+c.addr).Run(); err != nil {
					t.Fatal(err)
				}
			} else if err := shmbuf.StoreRaw(c.addr, []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			u := unused(t, c.addr)
			if u.Stale(time.Hour) || time.Since(u.LastWrite) > time.Minute {
				t.Fatalf("written just now, stale or old: %+v", u)
			}
		})
	}
}

// TestStale_OldUnusedRaw: a raw segment nobody uses is stale once its
// file has not been modified for the age asked; touching it keeps it.
func TestStale_OldUnusedRaw(t *testing.T) {
	t.Parallel()
	addr := posixTestAddr(t)
	if err := shmbuf.StoreRaw(addr, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	age(t, addr, 2*time.Hour)
	u := unused(t, addr)
	if !u.Stale(time.Hour) || u.Stale(3*time.Hour) {
		t.Fatalf("raw written 2h ago: %+v", u)
	}
	// Its JSON is the "written" and "in_use" members of the segment
	// object that ls --json and stat --json print (docs/JSON.md).
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"written":"` + u.LastWrite.Format(time.RFC3339Nano) + `","in_use":false}`
	if string(b) != want {
		t.Errorf("JSON of the usage: %s, want %s", b, want)
	}
	age(t, addr, 0)
	if u := unused(t, addr); u.Stale(time.Hour) {
		t.Fatalf("raw touched now: %+v", u)
	}
}

// TestStale_WritesThroughMapping: a snapshot or ring written by a
// long-running process through its one mapping is not aged by the file's
// modification time, which such stores do not update: the time the
// writers record in the segment keeps it fresh. The writer is a child
// that writes, waits while the file is aged, writes again and exits.
func TestStale_WritesThroughMapping(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"snapshot", "ring"} {
		t.Run(kind, func(t *testing.T) {
			addr := posixTestAddr(t)
			cmd := childCmd(t, "write-twice", "SHMBUF_ADDR="+addr, "KIND="+kind)
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(out)
			if line, err := br.ReadString('\n'); line != "ready\n" {
				t.Fatalf("child: %q, %v", line, err)
			}
			age(t, addr, 2*time.Hour)
			in.Write([]byte("go\n"))
			if line, err := br.ReadString('\n'); line != "done\n" {
				t.Fatalf("child: %q, %v", line, err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			requireOldModTime(t, addr)
			if u := unused(t, addr); u.Stale(time.Hour) {
				t.Fatalf("%s written just now: %+v", kind, u)
			}
		})
	}
	t.Run("ring-writer-killed", func(t *testing.T) {
		// A writer killed after one record, never closed: its first
		// record recorded the time.
		addr := posixTestAddr(t)
		if err := childCmd(t, "make-ring", "SHMBUF_ADDR="+addr).Run(); err != nil {
			t.Fatal(err)
		}
		cmd := childCmd(t, "ring-write-one", "SHMBUF_ADDR="+addr, "HOLD=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			t.Fatalf("child: %q, %v", line, err)
		}
		age(t, addr, 2*time.Hour)
		cmd.Process.Kill()
		cmd.Wait()
		u := unused(t, addr)
		if u.Stale(time.Hour) || !slices.ContainsFunc(u.Recorded, func(p shmbuf.RecordedProcess) bool {
			return p.Role == "writer" && !p.Alive
		}) {
			t.Fatalf("ring of a writer killed just after its record: %+v", u)
		}
	})
}

// requireOldModTime checks the premise of TestStale_WritesThroughMapping:
// the store through the mapping left the file's modification time as
// age set it.
func requireOldModTime(t *testing.T, addr string) {
	t.Helper()
	fi, err := os.Stat(filePath(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(fi.ModTime()) < time.Hour {
		t.Fatalf("a store through the mapping updated the modification time (%v): the test proves nothing", fi.ModTime())
	}
}

// TestStale_HeldOpenRaw: a raw segment that a live process holds open
// (an open Raw) is in use whatever its age, also judged from another pid
// namespace, where /proc does not show the holder: the Raw holds the
// users' lock on its file.
func TestStale_HeldOpenRaw(t *testing.T) {
	t.Parallel()
	addr := posixTestAddr(t)
	if err := shmbuf.StoreRaw(addr, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	age(t, addr, 2*time.Hour)
	stop := startHolder(t, "hold-raw", addr)
	// At least the holder in Users: another process's inspection may be
	// there too for a moment.
	if u := usage(t, addr); u.Stale(0) || !u.Locked || len(u.Users) == 0 {
		t.Fatalf("raw held open by a live process: %+v", u)
	}
	if os.Geteuid() == 0 || testenv.Required() { // without root, nsVerdict fails under SHMBUF_REQUIRE
		if got := nsVerdict(t, addr); !strings.HasPrefix(got, "in use ") {
			t.Errorf("raw held open here, judged inside a pid namespace: %s", got)
		}
	}
	stop()
	if u := unused(t, addr); !u.Stale(time.Hour) {
		t.Fatalf("raw written 2h ago, its holder gone: %+v", u)
	}
	if os.Geteuid() == 0 || testenv.Required() { // without root, nsVerdict fails under SHMBUF_REQUIRE
		if got := nsVerdict(t, addr); !strings.HasPrefix(got, "stale ") {
			t.Errorf("unused raw written 2h ago, judged inside a pid namespace: %s", got)
		}
	}
}

// nsVerdict runs the ns-usage child in a new pid namespace (skipping the
// test where that is impossible) and returns what it printed.
func nsVerdict(t *testing.T, addr string) string {
	t.Helper()
	needNamespaces(t)
	out, err := nsChildCmd(t, "ns-usage", "SHMBUF_ADDR="+addr).Output()
	if err != nil {
		t.Fatalf("usage check in a new pid namespace: %v", err)
	}
	return string(out)
}

// TestStale_ForeignNever: a file shmbuf did not make is never stale,
// however old and unused: only its own program can judge it.
func TestStale_ForeignNever(t *testing.T) {
	t.Parallel()
	addr := posixTestAddr(t)
	if err := os.WriteFile(filePath(t, addr), []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	age(t, addr, 48*time.Hour)
	u := notInUse(t, addr)
	if u.Kind != shmbuf.KindUnknown || u.Stale(0) || time.Since(u.LastWrite) < 47*time.Hour {
		t.Fatalf("foreign file: %+v", u)
	}
}
