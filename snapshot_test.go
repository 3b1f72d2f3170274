package shmbuf_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
	"golang.org/x/sys/unix"
)

// Offsets into a snapshot segment, from internal/layout: the 128-byte
// header, the control line (Gen, LockState, LockStart, …), then two slots
// of a 64-byte slot header (Seq, Len) and the value area.
const (
	offVersion     = 8
	offKind        = 12
	offSegmentSize = 24
	offCapacity    = 32
	offCreatorPid  = 56
	offReserved    = 80
	offChecksum    = 120
	offGen         = 128
	offLockState   = 136
	offLockStart   = 144
	offLockOwner   = 168
	offSlots       = 192
)

// slotOff returns the offset of slot i's header in a snapshot of the given
// capacity.
func slotOff(capacity uint64, i int) int {
	c, _ := layout.AlignUp(capacity)
	return offSlots + i*(64+int(c))
}

// patchSegment maps the segment at addr and lets f change its bytes, as a
// buggy or hostile process sharing it could.
func patchSegment(t *testing.T, addr string, f func(b []byte)) {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := shmbuf.OpenSegment(a, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f(s.Bytes())
}

// resum recomputes a header's checksum, so that only the check under test
// can catch the change.
func resum(b []byte) {
	h := fnv.New64a()
	h.Write(layout.Magic[:])
	h.Write(b[8:offChecksum])
	binary.LittleEndian.PutUint64(b[offChecksum:], h.Sum64())
}

func mustCreateSnapshot(t *testing.T, addr string, capacity int64) *shmbuf.Snapshot {
	t.Helper()
	s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: capacity})
	if err != nil {
		t.Fatalf("CreateSnapshot(%s, %d): %v", addr, capacity, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustOpenSnapshot(t *testing.T, addr string) *shmbuf.Snapshot {
	t.Helper()
	s, err := shmbuf.OpenSnapshot(addr)
	if err != nil {
		t.Fatalf("OpenSnapshot(%s): %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustLoad(t *testing.T, s *shmbuf.Snapshot) string {
	t.Helper()
	v, _, err := s.Load(nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return string(v)
}

func TestSnapshot_PublishLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		const capacity = 100
		w := mustCreateSnapshot(t, addr, capacity)
		if w.Capacity() != capacity || w.Generation() != 0 {
			t.Fatalf("Capacity %d Generation %d", w.Capacity(), w.Generation())
		}
		if w.Addr().String() != canon(t, addr) {
			t.Fatalf("Addr %v", w.Addr())
		}
		if v := mustLoad(t, w); v != "" {
			t.Fatalf("Load before any Publish = %q", v)
		}
		info, err := shmbuf.Stat(addr)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := layout.SnapshotSize(capacity)
		if info.Size < int64(want) || info.Kind != shmbuf.KindSnapshot || info.Mode != 0o600 {
			t.Fatalf("Stat = size %d kind %q mode %v; want >= %d snapshot 0600", info.Size, info.Kind, info.Mode, want)
		}
		if k, err := kindAt(addr); err != nil || k != shmbuf.KindSnapshot {
			t.Fatalf("kind = %v, %v", k, err)
		}

		if err := w.Publish([]byte("one")); err != nil {
			t.Fatal(err)
		}
		r := mustOpenSnapshot(t, addr)
		if r.Capacity() != capacity || r.Generation() != 1 || mustLoad(t, r) != "one" {
			t.Fatalf("reader: capacity %d generation %d", r.Capacity(), r.Generation())
		}
		// Any handle may publish; every handle sees the newest value.
		if err := r.Publish([]byte("two")); err != nil {
			t.Fatal(err)
		}
		if v := mustLoad(t, w); v != "two" || w.Generation() != 2 {
			t.Fatalf("after second Publish: %q generation %d", v, w.Generation())
		}
		full := strings.Repeat("F", capacity)
		if err := w.Publish([]byte(full)); err != nil {
			t.Fatalf("Publish of exactly Capacity: %v", err)
		}
		err = w.Publish(make([]byte, capacity+1))
		wantErr(t, "Publish larger than capacity", err, shmbuf.ErrTooLarge, addr)
		if v := mustLoad(t, r); v != full || r.Generation() != 3 {
			t.Fatalf("refused Publish changed the snapshot: %d bytes, generation %d", len(v), r.Generation())
		}
		if err := w.Publish(nil); err != nil {
			t.Fatal(err)
		}
		if v := mustLoad(t, r); v != "" || r.Generation() != 4 {
			t.Fatalf("after empty Publish: %q generation %d", v, r.Generation())
		}
		for i := range 10 {
			v := "value " + strconv.Itoa(i)
			if err := w.Publish([]byte(v)); err != nil {
				t.Fatal(err)
			}
			if got := mustLoad(t, r); got != v {
				t.Fatalf("Load = %q, want %q", got, v)
			}
		}

		// Load reuses dst and does not allocate.
		dst := make([]byte, 0, capacity)
		v, _, err := r.Load(dst)
		if err != nil || string(v) != "value 9" || &v[:1][0] != &dst[:1][0] {
			t.Fatalf("Load(dst) = %q, %v, or did not reuse dst", v, err)
		}
		if n := testing.AllocsPerRun(100, func() { r.Load(dst) }); n != 0 {
			t.Fatalf("Load with a large enough dst allocates %v times", n)
		}
	})
}

// TestSnapshot_LoadGeneration: the generation Load returns is the one of
// the value it returns, however fast a writer publishes meanwhile. The
// writer publishes each generation's own number as the value.
func TestSnapshot_LoadGeneration(t *testing.T) {
	addr := posixTestAddr(t)
	w := mustCreateSnapshot(t, addr, 64)
	r := mustOpenSnapshot(t, addr)
	if v, gen, err := r.Load(nil); err != nil || len(v) != 0 || gen != 0 {
		t.Fatalf("before any Publish: %q, generation %d, %v", v, gen, err)
	}
	const n = 20000
	done := make(chan error, 1)
	go func() {
		for i := uint64(1); i <= n; i++ {
			if err := w.Publish(strconv.AppendUint(nil, i, 10)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var buf []byte
	var last uint64
	for loads := 0; last < n; loads++ {
		v, gen, err := r.Load(buf)
		if err != nil {
			t.Fatal(err)
		}
		if gen < last || (gen > 0 && string(v) != strconv.FormatUint(gen, 10)) {
			t.Fatalf("load %d: value %q with generation %d (previous %d)", loads, v, gen, last)
		}
		buf, last = v, gen
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSnapshot_CreateExisting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, addr string) {
		w := mustCreateSnapshot(t, addr, 64)
		if err := w.Publish([]byte("old")); err != nil {
			t.Fatal(err)
		}
		_, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64})
		wantErr(t, "second create", err, shmbuf.ErrExist, addr)
		if v := mustLoad(t, w); v != "old" {
			t.Fatalf("refused create changed the value: %q", v)
		}
		w.Close()
		f, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 256, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Generation() != 0 || f.Capacity() != 256 || mustLoad(t, f) != "" {
			t.Fatal("forced create did not start afresh")
		}
		for _, size := range []int64{0, -1} {
			_, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: size, Force: true})
			wantErr(t, fmt.Sprintf("capacity %d", size), err, shmbuf.ErrInvalidSize, addr)
		}
		_, err = shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 1 << 62, Force: true})
		wantErr(t, "capacity 1<<62", err, shmbuf.ErrInvalidSize, addr)
	})
}

// TestSnapshot_NotShmbuf opens segments that are not snapshots at all.
func TestSnapshot_NotShmbuf(t *testing.T) {
	cases := map[string][]byte{
		"text":         []byte("hello\n"),
		"zeros":        make([]byte, 8192),
		"empty":        nil,
		"almost magic": append([]byte("SHMBUF\x00\x01"), make([]byte, 4096)...),
		"lowercase":    append([]byte("shmbuf\x00\x00"), make([]byte, 4096)...),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			addr := posixTestAddr(t)
			if err := os.WriteFile(filePath(t, addr), content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := shmbuf.OpenSnapshot(addr)
			wantErr(t, "OpenSnapshot", err, shmbuf.ErrNotShmbuf, addr)
			if got, _ := os.ReadFile(filePath(t, addr)); !bytes.Equal(got, content) {
				t.Fatal("a refused open changed the file")
			}
		})
	}
	t.Run("raw", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, addr string) {
			r, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: 4096})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Store([]byte("raw bytes")); err != nil {
				t.Fatal(err)
			}
			_, err = shmbuf.OpenSnapshot(addr)
			wantErr(t, "OpenSnapshot of a raw segment", err, shmbuf.ErrNotShmbuf, addr)
		})
	})
}

// TestSnapshot_HeaderDamage changes one header field at a time and checks
// that OpenSnapshot names the failure. A changed version or kind is
// reported as such even though the checksum no longer matches: those
// checks come first.
func TestSnapshot_HeaderDamage(t *testing.T) {
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	flip := func(off int) func([]byte) { return func(b []byte) { b[off] ^= 0x10 } }
	resummed := func(f func([]byte)) func([]byte) { return func(b []byte) { f(b); resum(b) } }
	cases := []struct {
		name   string
		damage func([]byte)
		want   error
	}{
		{"magic", flip(0), shmbuf.ErrNotShmbuf},
		{"magic last byte", flip(7), shmbuf.ErrNotShmbuf},
		{"version 1", put32(offVersion, 1), shmbuf.ErrVersion},
		{"version 1 with checksum", resummed(put32(offVersion, 1)), shmbuf.ErrVersion},
		{"version 2", put32(offVersion, 2), shmbuf.ErrVersion},
		{"version 4", put32(offVersion, 4), shmbuf.ErrVersion},
		{"version 0", put32(offVersion, 0), shmbuf.ErrVersion},
		{"version flipped bit", flip(offVersion), shmbuf.ErrVersion},
		{"version with checksum", resummed(put32(offVersion, 99)), shmbuf.ErrVersion},
		{"kind ring", put32(offKind, layout.KindRing), shmbuf.ErrWrongKind},
		{"kind 7", resummed(put32(offKind, 7)), shmbuf.ErrWrongKind},
		{"capacity", flip(offCapacity), shmbuf.ErrCorrupt},
		{"segment size", flip(offSegmentSize), shmbuf.ErrCorrupt},
		{"creator pid", flip(offCreatorPid), shmbuf.ErrCorrupt},
		{"reserved", flip(offReserved + 5), shmbuf.ErrCorrupt},
		{"checksum", flip(offChecksum), shmbuf.ErrCorrupt},
		{"header size", resummed(put32(16, 64)), shmbuf.ErrCorrupt},
		{"segment size beyond mapping", resummed(put64(offSegmentSize, 1<<40)), shmbuf.ErrCorrupt},
		{"segment size below header", resummed(put64(offSegmentSize, 64)), shmbuf.ErrCorrupt},
		{"capacity beyond segment", resummed(put64(offCapacity, 1<<20)), shmbuf.ErrCorrupt},
		{"capacity overflowing", resummed(put64(offCapacity, 1<<63)), shmbuf.ErrCorrupt},
		{"capacity max", resummed(put64(offCapacity, ^uint64(0))), shmbuf.ErrCorrupt},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			addr := posixTestAddr(t)
			w := mustCreateSnapshot(t, addr, 64)
			if err := w.Publish([]byte("before")); err != nil {
				t.Fatal(err)
			}
			patchSegment(t, addr, tt.damage)
			_, err := shmbuf.OpenSnapshot(addr)
			wantErr(t, "OpenSnapshot", err, tt.want, addr)
			for _, other := range []error{shmbuf.ErrNotShmbuf, shmbuf.ErrVersion, shmbuf.ErrWrongKind, shmbuf.ErrCorrupt} {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("error %v also matches %v", err, other)
				}
			}
			if tt.want == shmbuf.ErrVersion && !strings.Contains(err.Error(), "version") {
				t.Fatalf("version error does not say so: %v", err)
			}
		})
	}
}

// TestSnapshot_HostileControl corrupts the words a Load trusts after the
// header was validated: it must fail with ErrCorrupt, never panic, hang or
// read outside the mapping.
func TestSnapshot_HostileControl(t *testing.T) {
	const capacity = 64
	slot1 := slotOff(capacity, 1) // generation 1 lives in slot 1
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	cases := []struct {
		name   string
		damage func([]byte)
	}{
		{"len huge", put64(slot1+8, 1<<40)},
		{"len max", put64(slot1+8, ^uint64(0))},
		{"len capacity+1", put64(slot1+8, capacity+1)},
		{"seq odd", put64(slot1, 5)},
		{"seq stale", put64(slot1, 0)},
		{"gen ahead", put64(offGen, 3)},
		{"gen huge", put64(offGen, 1<<62+1)},
		{"gen max", put64(offGen, ^uint64(0))},
	}
	forEachBackend(t, func(t *testing.T, addr string) {
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				w, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: capacity, Force: true})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if err := w.Publish([]byte("x")); err != nil {
					t.Fatal(err)
				}
				patchSegment(t, addr, tt.damage)
				r, err := shmbuf.OpenSnapshot(addr)
				if err != nil {
					t.Fatalf("header untouched, yet OpenSnapshot: %v", err)
				}
				defer r.Close()
				done := make(chan error, 1)
				go func() { _, _, err := r.Load(nil); done <- err }()
				select {
				case err := <-done:
					wantErr(t, "Load", err, shmbuf.ErrCorrupt, addr)
				case <-time.After(10 * time.Second):
					t.Fatal("Load spins on a corrupt snapshot")
				}
				// A writer repairs what it owns: the next Publish is whole.
				if err := w.Publish([]byte("repaired")); err != nil {
					t.Fatal(err)
				}
				if v, _, err := r.Load(nil); err != nil || string(v) != "repaired" {
					t.Logf("after Publish on a corrupt snapshot: %q, %v", v, err)
				}
			})
		}
	})
}

// TestSnapshot_Truncated shrinks the file under mapped readers and writers:
// every access past the new end reports ErrTruncated instead of SIGBUS.
func TestSnapshot_Truncated(t *testing.T) {
	for _, b := range segBackends[:2] {
		for _, newSize := range []int64{0, 4096} {
			t.Run(fmt.Sprintf("%s/to%d", b.name, newSize), func(t *testing.T) {
				addr := b.addr(t)
				w := mustCreateSnapshot(t, addr, 64<<10)
				if err := w.Publish(bytes.Repeat([]byte{'v'}, 60<<10)); err != nil {
					t.Fatal(err)
				}
				r := mustOpenSnapshot(t, addr)
				if err := os.Truncate(filePath(t, addr), newSize); err != nil {
					t.Fatal(err)
				}
				_, _, err := r.Load(nil)
				wantErr(t, "Load", err, shmbuf.ErrTruncated, addr)
				// A value reaching past the new end faults mid-update.
				big := bytes.Repeat([]byte{'a'}, 60<<10)
				err = w.Publish(big)
				wantErr(t, "Publish", err, shmbuf.ErrTruncated, addr)
				if newSize > 0 {
					// The control line survived: the failed Publish must
					// not have left the writer lock held.
					b, _ := os.ReadFile(filePath(t, addr))
					if st := binary.LittleEndian.Uint64(b[offLockState:]); layout.SlotStateOf(st) != layout.LockFree {
						t.Fatalf("writer lock left held by pid %d after a fault", layout.SlotPid(st))
					}
				}
				done := make(chan error, 1)
				go func() { done <- r.Publish(big) }()
				select {
				case err := <-done:
					wantErr(t, "second Publish", err, shmbuf.ErrTruncated, addr)
				case <-time.After(5 * time.Second):
					t.Fatal("second Publish blocked after a faulted one")
				}
				// Neither may crash the process.
				_ = r.Generation()
				_, _, _ = r.Creator()
				_ = r.Capacity()
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestSnapshot_Closed(t *testing.T) {
	addr := posixTestAddr(t)
	s, err := shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish([]byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, "Publish after Close", s.Publish([]byte("x")), shmbuf.ErrClosed, addr)
	_, _, err = s.Load(nil)
	wantErr(t, "Load after Close", err, shmbuf.ErrClosed, addr)
	// The mapping is gone: these must not touch it.
	if a := s.Addr(); a.String() != canon(t, addr) {
		t.Fatalf("Addr after Close = %v", a)
	}
	if s.Capacity() != 64 {
		t.Fatalf("Capacity after Close = %d", s.Capacity())
	}
	if g := s.Generation(); g != 0 {
		t.Fatalf("Generation after Close = %d", g)
	}
	if pid, _, _ := s.Creator(); pid != 0 {
		t.Fatalf("Creator after Close = %d", pid)
	}
}

func init() {
	// snapshot-lock-holder takes the writer lock of the snapshot at
	// SHMBUF_TEST_ADDR the way a writer does (on a file-backed segment the
	// kernel lock, then the lock word), reports "locked", then waits to be
	// killed: a writer that died holding the lock.
	childRoles["snapshot-lock-holder"] = func() int {
		a, err := shmbuf.ParseAddress(os.Getenv("SHMBUF_TEST_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if a.Backend() != shmbuf.SysV {
			f, err := os.OpenFile(a.Path(), os.O_RDWR, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer f.Close()
			lk := unix.Flock_t{Type: unix.F_WRLCK, Start: layout.LockSnapshotWriter, Len: 1}
			if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		s, err := shmbuf.OpenSegment(a, false)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		self := proc.Self()
		b := s.Bytes()
		binary.LittleEndian.PutUint64(b[offLockState:], layout.SlotState(1, self.Pid, layout.LockHeld))
		binary.LittleEndian.PutUint64(b[offLockStart:], self.Start)
		binary.LittleEndian.PutUint64(b[offLockOwner:], layout.OwnerWord(self.NS, 1))
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // until killed
		return 0
	}
}

// TestSnapshot_DeadWriterLock: a writer that died holding the writer lock
// does not block the next Publish, while a live holder is respected.
func TestSnapshot_DeadWriterLock(t *testing.T) {
	addr := posixTestAddr(t)
	w := mustCreateSnapshot(t, addr, 64)
	if err := w.Publish([]byte("before")); err != nil {
		t.Fatal(err)
	}
	cmd := childCmd(t, "snapshot-lock-holder", "SHMBUF_TEST_ADDR="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}

	done := make(chan error, 1)
	go func() { done <- w.Publish([]byte("after")) }()
	// What Publish judges the holder by, the kernel's lock on the writer
	// byte, shows it alive: Publish waits.
	if !writerLockHeld(t, addr) {
		t.Fatal("the live holder's writer lock is not held")
	}
	select {
	case err := <-done:
		t.Fatalf("Publish took the lock of a live writer: %v", err)
	default:
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still blocked 5 s after the lock holder died")
	}
	if v := mustLoad(t, w); v != "after" {
		t.Fatalf("Load = %q", v)
	}

	// A lock word recorded by a live pid whose holder does not hold the
	// kernel lock belongs to a process that died (its pid since reused):
	// it is taken over too.
	patchSegment(t, addr, func(b []byte) {
		binary.LittleEndian.PutUint64(b[offLockState:], layout.SlotState(7, int32(os.Getppid()), layout.LockHeld))
		binary.LittleEndian.PutUint64(b[offLockStart:], 1)
		binary.LittleEndian.PutUint64(b[offLockOwner:], layout.OwnerWord(proc.Self().NS, 7))
	})
	go func() { done <- w.Publish([]byte("reused pid")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked by a lock whose pid was reused")
	}
	if v := mustLoad(t, w); v != "reused pid" {
		t.Fatalf("Load = %q", v)
	}
}

// writerLockHeld reports whether another open file description holds the
// kernel lock on the writer byte of the file-backed snapshot at addr.
func writerLockHeld(t *testing.T, addr string) bool {
	t.Helper()
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: layout.LockSnapshotWriter, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		t.Fatal(err)
	}
	return lk.Type != unix.F_UNLCK
}
