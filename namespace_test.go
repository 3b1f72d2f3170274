package shmbuf_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Peers in another pid namespace (containers that share /dev/shm): they
// have other pids, so they must never be judged by pid. These tests run
// one peer under `unshare -p -f --mount-proc` (root only) and check that
// no live peer is declared dead, in either direction, on every backend,
// and that a real kill -9 inside a namespace is still noticed.

// needNamespaces ends the test (see testenv.Missing) unless it runs as
// root with unshare(1).
func needNamespaces(t testing.TB) {
	t.Helper()
	testenv.Root(t, "for a new pid namespace")
	testenv.Tool(t, "unshare")
}

// nsChildCmd is childCmd for a child in a new pid namespace with its own
// /proc. unshare forks the child as the namespace's pid 1 and kills it
// when unshare itself dies (--kill-child), so cleanup's kill of the
// returned command ends the namespace.
func nsChildCmd(t testing.TB, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := childCmd(t, role, env...)
	cmd.Args = append([]string{"unshare", "-p", "-f", "--mount-proc", "--kill-child", os.Args[0]}, cmd.Args[1:]...)
	cmd.Path = ""
	cmd.Err = nil
	path, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Path = path
	return cmd
}

// startNSChild starts role in a new pid namespace and waits for its first
// output line.
func startNSChild(t *testing.T, role, want string, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := nsChildCmd(t, role, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if want != "" {
		line, err := br.ReadString('\n')
		if err != nil || line != want+"\n" {
			t.Fatalf("%s in a new pid namespace: first line %q, %v; want %q", role, line, err, want)
		}
	}
	return cmd, br
}

// nsInnerPid returns the host pid of the process unshare forked into the
// namespace (its only child).
func nsInnerPid(t *testing.T, unshare *os.Process) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unshare.Pid, unshare.Pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("unshare %d has children %q, want one", unshare.Pid, f)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// nsBackends are the backends the namespace tests run on: two file-backed
// (liveness by lock) and System V (liveness by pid, start time and
// namespace).
var nsBackends = []string{"posix", "file", "sysv"}

// ringAt creates a ring on backend with a unique address, removed at
// cleanup.
func ringAt(t *testing.T, backend string, opts shmbuf.RingOptions) (*shmbuf.Ring, string) {
	t.Helper()
	for range 20 {
		var addr string
		switch backend {
		case "posix":
			addr = uniqueName(t)
		case "file":
			addr = "file:" + shmbuf.ShmDir + "/" + uniqueName(t) + "-file"
		case "sysv":
			addr = fmt.Sprintf("sysv:0x%08x", 0x5c000000|rand.Uint32N(1<<24))
		}
		r, err := shmbuf.CreateRing(addr, opts)
		if errors.Is(err, shmbuf.ErrExist) && backend == "sysv" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			r.Close()
			shmbuf.Remove(addr)
		})
		return r, addr
	}
	t.Fatal("no free System V key after 20 tries")
	return nil, ""
}

func init() {
	childRoles["slow-ring-writer"] = slowRingWriterChild
	childRoles["ns-usage"] = nsUsageChild
}

// slowRingWriterChild writes RING_N records (of at most 100 bytes, writer
// 0, as ringWriterChild), pausing RING_PAUSE before
// every RING_EVERY-th (default: every one), and closes: a live writer
// that keeps its readers waiting longer than the liveness check interval.
func slowRingWriterChild() int {
	r, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	pause, err := time.ParseDuration(os.Getenv("RING_PAUSE"))
	if err != nil {
		return childFail("RING_PAUSE: %v", err)
	}
	every := uint64(envInt("RING_EVERY", 1))
	n := envInt("RING_N", 5) // negative: until killed
	fmt.Println("ready")
	buf := make([]byte, 100)
	for seq := uint64(0); n < 0 || seq < uint64(n); seq++ {
		if seq%every == 0 {
			time.Sleep(pause)
		}
		b := buf[:recLen(seq, 100)]
		fillRec(b, 0, seq)
		if _, err := w.Write(b); err != nil {
			return childFail("%v", err)
		}
	}
	if err := w.Close(); err != nil {
		return childFail("%v", err)
	}
	if err := r.Close(); err != nil {
		return childFail("%v", err)
	}
	return 0
}

// nsUsageChild prints "stale" or "in use" for the segment at SHMBUF_ADDR,
// with the usage, as `shmbuf ls` judges it from where the child runs.
func nsUsageChild() int {
	u, err := usageAt(os.Getenv("SHMBUF_ADDR"))
	if err != nil {
		return childFail("%v", err)
	}
	verdict := "in use"
	if u.Stale(time.Hour) {
		verdict = "stale"
	}
	fmt.Printf("%s %+v\n", verdict, *u)
	return 0
}

// TestNamespace_WriterInNamespace: a writer in another pid namespace that
// pauses longer than the liveness check between records is not declared
// lost; its reader here gets every record and a clean io.EOF when it
// closes, and a reader started afterwards ends cleanly too (no false
// "lost" end recorded).
func TestNamespace_WriterInNamespace(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	for _, backend := range nsBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			const n = 6
			r, addr := ringAt(t, backend, shmbuf.RingOptions{Size: 64 << 10})
			rd, err := r.NewReader(shmbuf.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cmd, _ := startNSChild(t, "slow-ring-writer", "ready", "RING_ADDR="+addr,
				fmt.Sprint("RING_N=", n), "RING_PAUSE=100ms")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for seq := range uint64(n) {
				rec, err := rd.Next(ctx)
				if err != nil {
					t.Fatalf("record %d: %v (the live writer in another pid namespace was declared dead)", seq, err)
				}
				if _, s, err := checkRec(rec); err != nil || s != seq {
					t.Fatalf("record %d: seq %d, %v", seq, s, err)
				}
			}
			if _, err := rd.Next(ctx); err != io.EOF {
				t.Fatalf("after the writer closed: %v, want io.EOF", err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("writer in the namespace: %v", err)
			}
			st, err := r.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if st.Ended != "eof" || len(st.Writers) != 0 {
				t.Fatalf("Stat after the clean close: ended %q, writers %+v", st.Ended, st.Writers)
			}
			// A follower started after the writer's clean exit ends with
			// io.EOF too, whether or not it has records left to read.
			for _, from := range []shmbuf.StartPosition{shmbuf.FromOldest, shmbuf.FromLatest} {
				late, err := r.NewReader(shmbuf.ReaderOptions{From: from})
				if err != nil {
					t.Fatal(err)
				}
				for {
					_, err := late.Next(ctx)
					if err == nil {
						continue
					}
					if err != io.EOF {
						t.Fatalf("late reader (from %v): %v, want io.EOF", from, err)
					}
					break
				}
				late.Close()
			}
			rd.Close()
		})
	}
}

// TestNamespace_ReaderInNamespace: a reader in another pid namespace and a
// writer here move 200,000 records through a small ring, so both wait for
// each other often, and the writer pauses longer than the liveness check
// interval now and then; neither reaps the other, every record arrives in
// order, and both exit 0.
func TestNamespace_ReaderInNamespace(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	for _, backend := range nsBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			const n, maxLen = 50000, 100
			_, addr := ringAt(t, backend, shmbuf.RingOptions{Size: 64 << 10})
			reader := nsChildCmd(t, "ring-reader", "RING_ADDR="+addr)
			out, err := reader.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := reader.Start(); err != nil {
				t.Fatal(err)
			}
			// The reader attaches before the writer starts, or the writer
			// could fill the ring and wait, and the reader start at Head.
			waitFor(t, 10*time.Second, "the reader in the namespace to attach", func() bool {
				r, err := shmbuf.OpenRing(addr)
				if err != nil {
					return false
				}
				defer r.Close()
				st, err := r.Stat()
				return err == nil && len(st.Readers) == 1
			})
			writer := childCmd(t, "slow-ring-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", n),
				"RING_PAUSE=100ms", "RING_EVERY=10000")
			writer.Stdout = io.Discard
			if err := writer.Start(); err != nil {
				t.Fatal(err)
			}
			// A reaped peer can leave the other waiting forever: bound the
			// wait, then kill both.
			hung := time.AfterFunc(30*time.Second, func() {
				reader.Process.Kill()
				writer.Process.Kill()
			})
			got, _ := io.ReadAll(out)
			rerr := reader.Wait()
			werr := writer.Wait()
			if !hung.Stop() {
				t.Fatalf("still running after 30 s: reader in the namespace printed %q (%v), writer here %v", got, rerr, werr)
			}
			if rerr != nil || werr != nil {
				t.Fatalf("reader in the namespace: %v (output %q); writer here: %v", rerr, got, werr)
			}
			want := fmt.Sprintf("%d %s\n", n, streamHash(0, n, maxLen))
			if string(got) != want {
				t.Fatalf("reader in the namespace printed %q, want %q", got, want)
			}
		})
	}
}

// TestNamespace_WriterKilledInNamespace: kill -9 of a writer inside a pid
// namespace is noticed here soon after (within noticeBound) on a
// file-backed ring (its slot lock is gone), after an intact prefix of its
// records.
func TestNamespace_WriterKilledInNamespace(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	for _, backend := range []string{"posix", "file"} {
		t.Run(backend, func(t *testing.T) {
			const maxLen = 200
			r, addr := ringAt(t, backend, shmbuf.RingOptions{Size: 16 << 10})
			rd, err := r.NewReader(shmbuf.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cmd, _ := startNSChild(t, "ring-writer", "ready", "RING_ADDR="+addr, "RING_N=-1", fmt.Sprint("RING_MAXLEN=", maxLen))
			inner := nsInnerPid(t, cmd.Process)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var killed time.Time
			var seq uint64
			for {
				rec, err := rd.Next(ctx)
				if err != nil {
					if !errors.Is(err, shmbuf.ErrWriterLost) || killed.IsZero() {
						t.Fatalf("after %d records: %v, want ErrWriterLost after the kill", seq, err)
					}
					d := time.Since(killed)
					if d > noticeBound {
						t.Fatalf("writer loss noticed %v after kill -9, want within %v", d, noticeBound)
					}
					t.Logf("writer killed in its namespace: loss noticed %v after kill -9, %d records", d, seq)
					break
				}
				if _, s, err := checkRec(rec); err != nil || s != seq {
					t.Fatalf("record %d: seq %d, %v", seq, s, err)
				}
				seq++
				if seq == 5000 {
					killed = time.Now()
					if err := syscall.Kill(inner, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmd.Wait()
			st, _ := r.Stat()
			if len(st.Writers) != 0 || st.Ended != "lost" {
				t.Errorf("Stat after the loss: writers %+v ended %q", st.Writers, st.Ended)
			}
		})
	}
}

// TestNamespace_ReaderKilledInNamespace: a writer here waits for a stuck
// reader in another pid namespace while it lives, and resumes within a
// second of its kill -9 (file-backed ring).
func TestNamespace_ReaderKilledInNamespace(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	r, addr := ringAt(t, "posix", shmbuf.RingOptions{Size: 4096})
	cmd, _ := startNSChild(t, "ring-stuck-reader", "attached", "RING_ADDR="+addr)
	inner := nsInnerPid(t, cmd.Process)
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// A live reader here that keeps up: only the stuck one holds space.
	// (With no live reader left, the writer would rightly wait for the
	// next one.)
	live, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	for {
		if _, err := w.WriteContext(ctx, buf); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	cancel()
	for {
		if _, err := live.TryNext(); err != nil {
			break
		}
	}
	done := make(chan time.Time, 1)
	go func() {
		w.Write(buf) // waits until the stuck reader is gone
		done <- time.Now()
	}()
	// A live reader in another namespace holds the writer back: a reap,
	// which judges it as a waiting writer does, leaves it attached.
	liveAfterReap(t, r, 2)
	select {
	case <-done:
		t.Fatal("writer did not wait for the live reader in another pid namespace")
	default:
	}
	killed := time.Now()
	if err := syscall.Kill(inner, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	select {
	case at := <-done:
		if d := at.Sub(killed); d > noticeBound {
			t.Fatalf("writer resumed %v after the reader was killed, want within %v", d, noticeBound)
		} else {
			t.Logf("writer resumed %v after kill -9 of the reader in its namespace", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writer still blocked 5s after the reader in the namespace died")
	}
}

// TestNamespace_StaleFromInside: `ls` and `rm --stale` run inside a pid
// namespace see neither the host's processes nor their pids, yet a ring
// with a reader here, and a snapshot held open here, are in use. Their
// creators have exited, so from here, once released, they are stale.
func TestNamespace_StaleFromInside(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	inside := func(addr string) string {
		t.Helper()
		out, err := nsChildCmd(t, "ns-usage", "SHMBUF_ADDR="+addr).Output()
		if err != nil {
			t.Fatalf("usage check in a new pid namespace: %v", err)
		}
		return string(out)
	}
	ring, snap := uniqueName(t), uniqueName(t)
	t.Cleanup(func() { shmbuf.Remove(ring); shmbuf.Remove(snap) })
	if err := childCmd(t, "make-ring", "SHMBUF_ADDR="+ring).Run(); err != nil {
		t.Fatal(err)
	}
	if err := childCmd(t, "make-snapshot", "SHMBUF_ADDR="+snap).Run(); err != nil {
		t.Fatal(err)
	}

	r, err := shmbuf.OpenRing(ring)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := shmbuf.OpenSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := inside(ring); !strings.HasPrefix(got, "in use ") {
		t.Errorf("ring with a reader on the host, judged inside a pid namespace: %s", got)
	}
	if got := inside(snap); !strings.HasPrefix(got, "in use ") {
		t.Errorf("snapshot held open on the host, judged inside a pid namespace: %s", got)
	}
	rd.Close()
	r.Close()
	s.Close()
	// The control: here, where the dead creators can be judged, both are
	// now stale, so the verdicts above came from the host's use.
	for _, addr := range []string{ring, snap} {
		if u := usage(t, addr); !u.Stale(0) {
			t.Errorf("%s unused, creator dead: not stale here: %+v", addr, u)
		}
	}
}

// TestNamespace_SysVSnapshotLock: a System V snapshot's writer lock held
// by a process of another pid namespace cannot be checked: Publish here
// never takes it over (the holder may be alive and mid-copy), and gives
// up with ErrLockHeld after its lock wait instead of waiting forever, leaving
// the value as it was.
func TestNamespace_SysVSnapshotLock(t *testing.T) {
	t.Parallel()
	needNamespaces(t)
	var s *shmbuf.Snapshot
	var addr string
	for range 20 {
		addr = fmt.Sprintf("sysv:0x%08x", 0x5c000000|rand.Uint32N(1<<24))
		var err error
		s, err = shmbuf.CreateSnapshot(addr, shmbuf.CreateOptions{Size: 64})
		if errors.Is(err, shmbuf.ErrExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	t.Cleanup(func() { s.Close(); shmbuf.Remove(addr) })
	if err := s.Publish([]byte("before")); err != nil {
		t.Fatal(err)
	}
	holder := nsChildCmd(t, "snapshot-lock-holder", "SHMBUF_TEST_ADDR="+addr)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("lock holder in a new pid namespace: %q, %v", line, err)
	}
	start := time.Now()
	err = s.Publish([]byte("after"))
	waited := time.Since(start)
	if !errors.Is(err, shmbuf.ErrLockHeld) {
		t.Fatalf("Publish with the lock held in another pid namespace: %v, want ErrLockHeld", err)
	}
	t.Logf("Publish gave up after %v: %v", waited.Round(time.Millisecond), err)
	if waited < shmbuf.TestLockWait || waited > shmbuf.TestLockWait+5*time.Second {
		t.Errorf("Publish gave up after %v, want about its lock wait (%v in tests)", waited, shmbuf.TestLockWait)
	}
	v, _, err := s.Load(nil)
	if err != nil || string(v) != "before" {
		t.Fatalf("value after the refused Publish: %q, %v", v, err)
	}
}
