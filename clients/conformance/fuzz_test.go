package conformance_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// TestCorruptSegmentsUnderSanitizers opens a corpus of corrupt rings and
// snapshots with the C library built under -fsanitize=address,undefined:
// hostile control words (those of the Go fuzz targets' seeds and more),
// slot states, claims and cursors, record headers with right stamps and
// wrong lengths, headers with flipped bits or out-of-range fields behind
// a valid checksum, truncated files and random byte flips. Every file must
// be opened, read, written and reaped without a crash, a sanitizer report
// or a hang; the unmodified seeds must read cleanly.
func TestCorruptSegmentsUnderSanitizers(t *testing.T) {
	t.Parallel()
	tool := cBuildASan(t)
	dir := t.TempDir()
	var files []string
	add := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		base := seedRing(t, dir, pol)
		add("ring-"+pol.String()+"-seed", base)
		mutate := func(name string, f func(l *layout.Ring, b []byte)) {
			b := append([]byte(nil), base...)
			l, err := layout.RingOf(b)
			if err != nil {
				t.Fatal(err)
			}
			f(l, b)
			add(fmt.Sprintf("ring-%s-%s", pol, name), b)
		}
		l0, _ := layout.RingOf(append([]byte(nil), base...))
		tail, head := l0.Ctl.Tail.Load(), l0.Ctl.Head.Load()
		hostile := []uint64{1, 7, 8, head + 8, tail - 8, tail + 8, tail + 4096, 3*4096 + 8, 1 << 62, 1 << 63, ^uint64(0), ^uint64(7), 0x4141414141414141}
		for i, v := range hostile {
			mutate(fmt.Sprintf("tail-%d", i), func(l *layout.Ring, _ []byte) { l.Ctl.Tail.Store(v) })
			mutate(fmt.Sprintf("head-%d", i), func(l *layout.Ring, _ []byte) { l.Ctl.Head.Store(v) })
			mutate(fmt.Sprintf("headcopy-%d", i), func(l *layout.Ring, _ []byte) {
				g := l.Ctl.HeadGen.Load()
				l.Ctl.HeadCopy[g&1].Pos.Store(v)
				l.Ctl.HeadCopy[g&1].Records.Store(v)
			})
			mutate(fmt.Sprintf("readmark-%d", i), func(l *layout.Ring, _ []byte) { l.Ctl.ReadMark.Store(v) })
			mutate(fmt.Sprintf("end-%d", i), func(l *layout.Ring, _ []byte) { l.Ctl.End.Store(v) })
			mutate(fmt.Sprintf("walktoken-%d", i), func(l *layout.Ring, _ []byte) { l.Ctl.WalkToken.Store(v) })
			mutate(fmt.Sprintf("claim-%d", i), func(l *layout.Ring, _ []byte) {
				l.Writers[0].State.Store(layout.SlotState(3, 0x7ffffff0, layout.SlotActive))
				l.Writers[0].Claim.Store(v)
				l.Writers[0].ClaimLen.Store(v * 3)
			})
			mutate(fmt.Sprintf("cursor-%d", i), func(l *layout.Ring, _ []byte) {
				l.Readers[0].State.Store(layout.SlotState(3, 0x7ffffff0, layout.SlotActive))
				l.Readers[0].Cursor.Store(v)
			})
			mutate(fmt.Sprintf("state-%d", i), func(l *layout.Ring, _ []byte) {
				l.Writers[1].State.Store(v)
				l.Readers[1].State.Store(v)
			})
			mutate(fmt.Sprintf("tail-head-%d", i), func(l *layout.Ring, _ []byte) {
				l.Ctl.Tail.Store(v)
				l.Ctl.Head.Store(v - 8)
				l.Ctl.ReadMark.Store(v - 8)
			})
		}
		// Record headers whose stamps are right and whose lengths are not.
		for i, n := range []uint32{1, 7, 4000, 4096, 1 << 31, ^uint32(0)} {
			for _, flags := range []uint32{0, layout.FlagPad, layout.RecordFlags(4095, false), layout.RecordFlags(1, true)} {
				mutate(fmt.Sprintf("record-%d-%x", i, flags), func(l *layout.Ring, _ []byte) {
					h := l.Hdr(head & l.Mask)
					h.Len, h.Flags = n, flags
				})
			}
		}
		// Header fields out of range behind a valid checksum.
		header := func(name string, f func(h *layout.Header)) {
			mutate("header-"+name, func(_ *layout.Ring, b []byte) {
				h, _ := layout.HeaderOf(b)
				f(h)
				h.Publish()
			})
		}
		header("capacity", func(h *layout.Header) { h.Capacity = 4000 })
		header("capacity-big", func(h *layout.Header) { h.Capacity = 1 << 40 })
		header("writers", func(h *layout.Header) { h.Writers = 0 })
		header("readers", func(h *layout.Header) { h.Readers = 4096 })
		header("maxrecord", func(h *layout.Header) { h.MaxRecord = h.Capacity })
		header("segsize", func(h *layout.Header) { h.SegmentSize = 1 << 50 })
		header("policy", func(h *layout.Header) { h.Policy = 9 })
		header("stampkey", func(h *layout.Header) { h.StampKey = 1 })
		header("kind", func(h *layout.Header) { h.Kind = layout.KindSnapshot })
		for i := 0; i < 40; i++ {
			mutate(fmt.Sprintf("flip-header-%d", i), func(_ *layout.Ring, b []byte) { b[rng.IntN(layout.HeaderSize)] ^= byte(1 << rng.IntN(8)) })
		}
		for i := 0; i < 150; i++ {
			mutate(fmt.Sprintf("flip-%d", i), func(_ *layout.Ring, b []byte) {
				for k := 0; k <= rng.IntN(24); k++ {
					b[layout.HeaderSize+rng.IntN(len(b)-layout.HeaderSize)] = byte(rng.Uint32())
				}
			})
		}
		for _, n := range []int{0, 7, 8, 127, 128, 300, len(base) - 1} {
			add(fmt.Sprintf("ring-%s-truncated-%d", pol, n), append([]byte(nil), base[:n]...))
		}
	}
	snap := seedSnapshot(t, dir)
	add("snapshot-seed", snap)
	for i, f := range []func(s *layout.Snapshot){
		func(s *layout.Snapshot) { s.Ctl.Gen.Store(^uint64(0)) },
		func(s *layout.Snapshot) { s.Slots[s.Ctl.Gen.Load()&1].Seq.Store(3) },
		func(s *layout.Snapshot) { s.Slots[s.Ctl.Gen.Load()&1].Len.Store(1 << 40) },
		func(s *layout.Snapshot) { s.Slots[s.Ctl.Gen.Load()&1].Len.Store(s.Capacity + 1) },
		func(s *layout.Snapshot) { s.Ctl.LockState.Store(^uint64(0)) },
	} {
		b := append([]byte(nil), snap...)
		s, err := layout.SnapshotOf(b)
		if err != nil {
			t.Fatal(err)
		}
		f(s)
		add(fmt.Sprintf("snapshot-%d", i), b)
	}
	for i := 0; i < 20; i++ {
		b := make([]byte, 1024+rng.IntN(8192))
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
		copy(b, layout.Magic[:])
		add(fmt.Sprintf("random-%d", i), b)
	}

	cmd := exec.Command(tool, append([]string{"fuzz"}, files...)...)
	cmd.Env = append(os.Environ(), sanitizerEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	timer := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	out, err := cmd.Output()
	timer.Stop()
	if err != nil || strings.Contains(stderr.String(), "Sanitizer") || strings.Contains(stderr.String(), "runtime error") {
		t.Fatalf("shmbuf_tool_asan fuzz: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d result lines for %d files", len(lines), len(files))
	}
	codes := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		codes[filepath.Base(f[0])+" ring"] = atoi(f[2])
		codes[filepath.Base(f[0])+" read"] = atoi(f[4])
	}
	for _, pol := range []string{"block", "overwrite"} {
		if c := codes["ring-"+pol+"-seed ring"]; c != 0 {
			t.Errorf("the %s seed did not open: code %d", pol, c)
		}
		if c := codes["ring-"+pol+"-seed read"]; c != 1 {
			t.Errorf("the %s seed: reading ended with code %d, want 1 (end of stream, after its records)", pol, c)
		}
		if c := codes["ring-"+pol+"-header-capacity ring"]; c != -5 {
			t.Errorf("a ring of capacity 4000 opened with code %d, want -5 (corrupt)", c)
		}
	}
	t.Logf("%d corrupt segments opened under the sanitizers", len(files))
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// seedRing returns the bytes of a ring that Go wrote records into, over
// more than one lap, and read some of.
func seedRing(t *testing.T, dir string, pol shmbuf.Policy) []byte {
	t.Helper()
	p := filepath.Join(dir, "seed-"+pol.String())
	r, err := shmbuf.CreateRing("file:"+p, shmbuf.RingOptions{Size: 4096, Writers: 2, Readers: 2, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint32(0); k < 100; k++ {
		if _, err := w.Write(pattern(1, k, 300)); err != nil {
			t.Fatal(err)
		}
		if _, err := rd.TryNext(); err != nil && pol == shmbuf.PolicyBlock {
			t.Fatal(err)
		}
	}
	w.Close()
	rd.Close()
	r.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seedSnapshot(t *testing.T, dir string) []byte {
	t.Helper()
	p := filepath.Join(dir, "seed-snapshot")
	s, err := shmbuf.CreateSnapshot("file:"+p, shmbuf.CreateOptions{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"one", "two", "three"} {
		if err := s.Publish([]byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
