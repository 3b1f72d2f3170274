package shmbuf_test

import (
	"bufio"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// Stale-segment suite: a segment is stale only when every process it
// records is dead and no live process maps, holds or attaches it.

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
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	u, err := shmbuf.SegmentUsage(a)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestStale_SnapshotOfDeadCreator(t *testing.T) {
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })

	stop := startHolder(t, "make-snapshot", addr)
	if u := usage(t, addr); u.Stale() {
		t.Fatalf("snapshot with a live creator reported stale: %+v", u)
	}
	stop()
	if u := usage(t, addr); !u.Stale() {
		t.Fatalf("snapshot whose creator and writer died, unused, not stale: %+v", u)
	}
	// A live process mapping it makes it in use again.
	stopHolder := startHolder(t, "hold-segment", addr)
	u := usage(t, addr)
	if u.Stale() || len(u.Users) != 1 {
		t.Fatalf("snapshot mapped by a live process: %+v", u)
	}
	stopHolder()
	if u := usage(t, addr); !u.Stale() {
		t.Fatalf("after the holder left: %+v", u)
	}
}

func TestStale_SysVAttachCounts(t *testing.T) {
	addr, r := createSysVRaw(t, 0)
	r.Close()
	shmbuf.Remove(addr)
	// Reuse the free key for a snapshot made by a child that exits.
	cmd := childCmd(t, "make-snapshot", "SHMBUF_ADDR="+addr)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shmbuf.Remove(addr) })
	if u := usage(t, addr); !u.Stale() || u.Attached != 0 {
		t.Fatalf("unattached System V snapshot of a dead creator: %+v", u)
	}
	stop := startHolder(t, "hold-segment", addr)
	if u := usage(t, addr); u.Stale() || u.Attached != 1 {
		t.Fatalf("System V snapshot attached by a live process: %+v", u)
	}
	stop()
}

func TestStale_RingWithLiveReader(t *testing.T) {
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	if err := childCmd(t, "make-ring", "SHMBUF_ADDR="+addr).Run(); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, addr); !u.Stale() {
		t.Fatalf("ring of a dead creator, no peers: %+v", u)
	}
	stop := startHolder(t, "stale-ring-reader", addr)
	u := usage(t, addr)
	if u.Stale() || !slices.ContainsFunc(u.Recorded, func(p shmbuf.RecordedProcess) bool {
		return p.Role == "reader" && p.Alive
	}) {
		t.Fatalf("ring with a live reader: %+v", u)
	}
	stop()
}

func TestStale_RawNeverStale(t *testing.T) {
	addr := uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(addr) })
	if err := shmbuf.StoreRaw(addr, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, addr); u.Stale() || u.Kind != "raw" {
		t.Fatalf("raw segment: %+v", u)
	}
}
