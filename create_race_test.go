package shmbuf_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
	"golang.org/x/sys/unix"
)

// Creation races: a segment appears under its name only when complete, so
// a process opening it meanwhile finds nothing or the whole segment, and a
// forced re-creation replaces it without the name ever being empty.

func init() {
	// create-each creates a segment of SHMBUF_TEST_KIND at each address of
	// SHMBUF_TEST_ADDRS (comma-separated), one after the other.
	childRoles["create-each"] = func() int {
		kind := os.Getenv("SHMBUF_TEST_KIND")
		force := os.Getenv("SHMBUF_TEST_FORCE") == "1"
		for _, addr := range strings.Split(os.Getenv("SHMBUF_TEST_ADDRS"), ",") {
			if err := createKind(kind, addr, force); err != nil {
				fmt.Fprintln(os.Stderr, "create-each:", err)
				return 1
			}
		}
		return 0
	}
}

// raceSize makes creation slow enough (reserving the space zeroes it) for
// an opener to find a half-built segment if one were ever visible.
const raceSize = 8 << 20

func createKind(kind, addr string, force bool) error {
	var c interface{ Close() error }
	var err error
	switch kind {
	case "ring":
		c, err = shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: raceSize, Force: force})
	case "snapshot":
		c, err = shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: raceSize, Force: force})
	case "raw":
		c, err = shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: raceSize, Force: force})
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return err
	}
	return c.Close()
}

// openKind opens addr as kind the way a reader would and checks that what
// it found is a whole segment of that kind.
func openKind(kind, addr string) error {
	switch kind {
	case "ring":
		r, err := shmbuf.OpenRing(addr)
		if err != nil {
			return err
		}
		return r.Close()
	case "snapshot":
		s, err := shmbuf.OpenSnapshot(addr)
		if err != nil {
			return err
		}
		return s.Close()
	case "raw":
		k, err := kindAt(addr)
		if err != nil {
			return err
		}
		r, err := shmbuf.OpenRaw(addr)
		if err != nil {
			return err
		}
		defer r.Close()
		a, _ := shmbuf.ParseAddress(addr)
		if a.Backend() != shmbuf.SysV && k != shmbuf.KindRaw {
			return fmt.Errorf("kind %q, want raw: the segment was visible before its mark", k)
		}
		if !r.Fixed() {
			return errors.New("a CreateRaw region opened as resizable: it was visible before it had its size or mark")
		}
		return nil
	}
	return fmt.Errorf("unknown kind %q", kind)
}

// linkModes are the two ways a file is built: without a name (O_TMPFILE)
// and under a hidden name, which children use when SHMBUF_TEST_NO_TMPFILE
// is set (see segment_link_whitebox_test.go).
var linkModes = []struct{ name, env string }{
	{"tmpfile", "SHMBUF_TEST_NO_TMPFILE=0"},
	{"hidden-name", "SHMBUF_TEST_NO_TMPFILE=1"},
}

// TestCreate_OpenersSeeWholeSegments: a child process creates segments
// one after another while this process keeps opening each address. Every
// open finds nothing or the complete segment: never one without its
// header (ErrNotShmbuf), a raw region without its mark or size, or a
// System V segment before its header.
func TestCreate_OpenersSeeWholeSegments(t *testing.T) {
	t.Parallel()
	trials := testenv.ShortOrLong(10, 200)
	for _, b := range segBackends {
		modes := linkModes
		if b.name == "sysv" {
			modes = linkModes[:1]
		}
		for _, m := range modes {
			for _, kind := range []string{"ring", "snapshot", "raw"} {
				sub := b.name + "/" + m.name + "/" + kind
				if b.name == "sysv" {
					sub = b.name + "/" + kind // no file, no way to link it
				}
				t.Run(sub, func(t *testing.T) {
					addrs := make([]string, trials)
					for i := range addrs {
						addrs[i] = b.addr(t)
						if b.name == "file" {
							addrs[i] += fmt.Sprint(i)
						}
						t.Cleanup(func() { shmbuf.Remove(addrs[i]) })
					}
					child := childCmd(t, "create-each", m.env, "SHMBUF_TEST_KIND="+kind, "SHMBUF_TEST_ADDRS="+strings.Join(addrs, ","))
					if err := child.Start(); err != nil {
						t.Fatal(err)
					}
					exited := make(chan error, 1)
					go func() { exited <- child.Wait() }()
					deadline := time.Now().Add(60 * time.Second)
					absent := 0
					for i, addr := range addrs {
						for {
							err := openKind(kind, addr)
							if err == nil {
								break
							}
							if !errors.Is(err, shmbuf.ErrNotExist) {
								t.Fatalf("trial %d: opening %s while it was being created: %v", i, addr, err)
							}
							absent++
							if time.Now().After(deadline) {
								t.Fatalf("trial %d: %s never appeared", i, addr)
							}
						}
						shmbuf.Remove(addr)
					}
					if err := <-exited; err != nil {
						t.Fatalf("creator: %v", err)
					}
					t.Logf("%d segments, each found whole (%d opens found nothing yet)", trials, absent)
				})
			}
		}
	}
}

// TestCreate_ForceReplacesInPlace: a child re-creates a ring with Force
// over and over while this process opens it in a loop. The name always
// holds a whole ring (a rename replaces it; it is never unlinked and
// created again), and a ring opened before a replacement stays usable.
func TestCreate_ForceReplacesInPlace(t *testing.T) {
	t.Parallel()
	trials := testenv.ShortOrLong(10, 200)
	for _, b := range segBackends[:2] {
		for _, m := range linkModes {
			t.Run(b.name+"/"+m.name, func(t *testing.T) {
				addr := b.addr(t)
				t.Cleanup(func() { shmbuf.Remove(addr) })
				first, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096})
				if err != nil {
					t.Fatal(err)
				}
				defer first.Close()
				w, err := first.NewWriter(shmbuf.WriterOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte("kept")); err != nil {
					t.Fatal(err)
				}
				addrs := make([]string, trials)
				for i := range addrs {
					addrs[i] = addr
				}
				child := childCmd(t, "create-each", m.env, "SHMBUF_TEST_KIND=ring", "SHMBUF_TEST_FORCE=1", "SHMBUF_TEST_ADDRS="+strings.Join(addrs, ","))
				if err := child.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- child.Wait() }()
				opens := 0
				for done := false; !done; opens++ {
					select {
					case err := <-exited:
						if err != nil {
							t.Fatalf("creator: %v", err)
						}
						done = true
					default:
					}
					if err := openKind("ring", addr); err != nil {
						t.Fatalf("open %d, while the ring was being replaced: %v", opens, err)
					}
				}
				// The first ring, replaced at its name 50 times, still works
				// for those who have it.
				rd, err := first.NewReader(shmbuf.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer rd.Close()
				if rec, err := rd.TryNext(); err != nil || string(rec) != "kept" {
					t.Fatalf("replaced ring: %q, %v", rec, err)
				}
				w.Close()
				t.Logf("%d forced re-creations, %d opens, each found a whole ring", trials, opens)
			})
		}
	}
}

// TestCreate_SysVBuildingMode: a System V segment shmbuf is still
// formatting carries mode 0611; opening it waits for the mark to go (and
// gives up with ErrIncomplete when its creator died), and nobody may ask
// for that mode.
func TestCreate_SysVBuildingMode(t *testing.T) {
	addr := sysvTestAddr(t)
	a, _ := shmbuf.ParseAddress(addr)
	_, err := shmbuf.CreateSegment(a, shmbuf.CreateOptions{Size: 4096, Mode: 0o611})
	wantErr(t, "create with the building mode", err, shmbuf.ErrInvalidArgument, addr)

	// A segment left marked by a creator that is gone: ipcmk exits at once.
	ipcmk := testenv.Tool(t, "ipcmk")
	out, err := runCmd(ipcmk, "-M", "4096", "-p", "0611")
	if err != nil {
		t.Fatalf("ipcmk: %v: %s", err, out)
	}
	id := strings.TrimSpace(out[strings.LastIndex(out, ":")+1:])
	byID := "sysv-id:" + id
	t.Cleanup(func() { shmbuf.Remove(byID) })
	start := time.Now()
	_, err = shmbuf.OpenRing(byID)
	wantErr(t, "open a segment whose creator died while it was marked", err, shmbuf.ErrIncomplete, byID)
	if !strings.Contains(err.Error(), "died") {
		t.Fatalf("error %q does not say the creator died", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a dead creator's segment took %v to refuse; its creator is known dead at once", took)
	}
	_, err = shmbuf.Stat(byID)
	wantErr(t, "stat", err, shmbuf.ErrIncomplete, byID)
	if err := shmbuf.Remove(byID); err != nil {
		t.Fatalf("Remove of an incomplete segment: %v", err)
	}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func init() {
	// slow-sysv-creator marks a new System V segment at SHMBUF_TEST_ADDR
	// as being built, says "ready", and gives it its mode 300 ms later:
	// what a creator formatting a large segment looks like.
	childRoles["slow-sysv-creator"] = func() int {
		a, err := shmbuf.ParseAddress(os.Getenv("SHMBUF_TEST_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		id, err := unix.SysvShmGet(int(a.Key()), 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o611)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		time.Sleep(300 * time.Millisecond)
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		d.Perm.Mode = 0o600
		if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("done", time.Now().UnixNano())
		return 0
	}
}

// TestCreate_SysVOpenWaitsForCreator: an opener that finds a System V
// segment its live creator is still building waits until it is done.
func TestCreate_SysVOpenWaitsForCreator(t *testing.T) {
	t.Parallel()
	addr := sysvTestAddr(t)
	child := childCmd(t, "slow-sysv-creator", "SHMBUF_TEST_ADDR="+addr)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("creator said %q, %v", line, err)
	}
	a, _ := shmbuf.ParseAddress(addr)
	s, err := shmbuf.OpenSegment(a, false)
	if err != nil {
		t.Fatalf("open while its creator builds it: %v", err)
	}
	opened := time.Now()
	s.Close()
	// The creator says when it finished (one clock, one machine): the
	// open must not have returned before.
	var done int64
	if line, err := br.ReadString('\n'); err != nil {
		t.Fatalf("creator said %q, %v", line, err)
	} else if _, err := fmt.Sscanf(line, "done %d", &done); err != nil {
		t.Fatalf("creator said %q: %v", line, err)
	}
	if d := time.Unix(0, done).Sub(opened); d > 0 {
		t.Fatalf("open returned %v before the creator finished", d)
	}
	info, err := shmbuf.Stat(addr)
	if err != nil || info.Mode != 0o600 {
		t.Fatalf("Stat = %+v, %v; want mode 0600", info, err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("creator: %v", err)
	}
}
