package shmbuf_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

func init() {
	childRoles["observe"] = observeChild
}

// TestObserver_ExactLoss: an observer that holds no slot never holds a
// writer back, under either policy, and when writers lap it each
// *LostError counts exactly the records and bytes it missed: the next
// record it gets is the one after them, and what it read plus what it
// was told it lost is everything written. (Under policy block a reader
// drains the ring, so that the writer never waits for unread records.)
func TestObserver_ExactLoss(t *testing.T) {
	const n, maxLen = 3000, 150
	for _, pol := range []shmbuf.Policy{shmbuf.PolicyBlock, shmbuf.PolicyOverwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, MaxRecord: maxLen, Policy: pol})
			ob, err := r.NewObserver(shmbuf.ObserverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, _ := r.NewWriter(shmbuf.WriterOptions{})
			var wg sync.WaitGroup
			var drainErr error
			if pol == shmbuf.PolicyBlock {
				rd, _ := r.NewReader(shmbuf.ReaderOptions{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					for {
						if _, err := rd.Next(ctx); err != nil {
							if err != io.EOF {
								drainErr = err
							}
							return
						}
					}
				}()
			}
			var read, lostRecs, lostBytes uint64
			next := uint64(0) // the seq the observer should get next
			observe := func(k int) {
				for ; k > 0; k-- {
					rec, err := ob.TryNext()
					if le, ok := isLost(err); ok {
						var b uint64
						for s := next; s < next+le.Records; s++ {
							b += uint64(recLen(s, maxLen))
						}
						if b != le.Bytes {
							t.Fatalf("lost %d records from seq %d: %d bytes reported, they held %d", le.Records, next, le.Bytes, b)
						}
						next += le.Records
						lostRecs += le.Records
						lostBytes += le.Bytes
						continue
					}
					if errors.Is(err, shmbuf.ErrEmpty) || err == io.EOF {
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					_, seq, err := checkRec(rec)
					if err != nil || seq != next {
						t.Fatalf("observer got seq %d (%v), want %d", seq, err, next)
					}
					next++
					read++
				}
			}
			buf := make([]byte, maxLen)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for seq := range uint64(n) {
				b := buf[:recLen(seq, maxLen)]
				fillRec(b, 0, seq)
				if _, err := w.WriteContext(ctx, b); err != nil {
					t.Fatalf("write %d: %v (an observer must not hold the writer back)", seq, err)
				}
				if seq%97 == 0 {
					observe(5)
				}
			}
			w.Close()
			wg.Wait()
			if drainErr != nil {
				t.Fatal(drainErr)
			}
			observe(n)
			if read+lostRecs != n || next != n {
				t.Fatalf("observer read %d and lost %d records (next %d), want %d in all", read, lostRecs, next, n)
			}
			if lostRecs == 0 || read < 30 {
				t.Fatalf("observer read %d and lost %d: the test should see both", read, lostRecs)
			}
			t.Logf("observer read %d records and was told it lost %d (%d bytes)", read, lostRecs, lostBytes)
			if _, err := ob.TryNext(); !errors.Is(err, shmbuf.ErrEmpty) {
				t.Fatalf("after the end of the stream: %v, want ErrEmpty", err)
			}
			ob.Close()
		})
	}
}

// TestObserver_ReadOnlyRing: a ring opened read-only serves observers
// and Stat, and refuses readers, writers and Reap with ErrReadOnly; an
// observer from the latest record sees only later ones, and a Ring's
// Close ends an observer's wait with ErrClosed.
func TestObserver_ReadOnlyRing(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"posix", "sysv"} {
		t.Run(backend, func(t *testing.T) { testObserverReadOnly(t, backend) })
	}
}

func testObserverReadOnly(t *testing.T, backend string) {
	addr := uniqueName(t)
	if backend == "sysv" {
		addr = fmt.Sprintf("sysv:0x%08x", 0x5f000000|uint32(os.Getpid()&0xffff)<<8|uint32(nextID()&0xff))
	}
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	defer w.Close()
	rd, _ := r.NewReader(shmbuf.ReaderOptions{}) // lets the writer go on
	defer rd.Close()
	w.Write([]byte("old"))
	ro, err := shmbuf.OpenRingReadOnly(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.NewReader(shmbuf.ReaderOptions{}); !errors.Is(err, shmbuf.ErrReadOnly) {
		t.Errorf("NewReader on a read-only ring: %v, want ErrReadOnly", err)
	}
	if _, err := ro.NewWriter(shmbuf.WriterOptions{}); !errors.Is(err, shmbuf.ErrReadOnly) {
		t.Errorf("NewWriter on a read-only ring: %v, want ErrReadOnly", err)
	}
	if err := ro.Reap(); !errors.Is(err, shmbuf.ErrReadOnly) {
		t.Errorf("Reap on a read-only ring: %v, want ErrReadOnly", err)
	}
	if st, err := ro.Stat(); err != nil || len(st.Readers) != 1 {
		t.Errorf("Stat on a read-only ring: %+v, %v", st, err)
	}
	oldest, _ := ro.NewObserver(shmbuf.ObserverOptions{})
	latest, _ := ro.NewObserver(shmbuf.ObserverOptions{From: shmbuf.FromLatest, Wait: shmbuf.WaitBlock})
	if rec, err := oldest.TryNext(); err != nil || string(rec) != "old" {
		t.Fatalf("observer from the oldest: %q, %v", rec, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		rec, err := latest.Next(ctx)
		got <- fmt.Sprintf("%s %v", rec, err)
	}()
	time.Sleep(30 * time.Millisecond) // asleep, usually
	w.Write([]byte("new"))
	if g := <-got; g != "new <nil>" {
		t.Fatalf("observer from the latest: %s, want new", g)
	}
	if st, _ := r.Stat(); len(st.Readers) != 1 {
		t.Errorf("observers took reader slots: %d readers", len(st.Readers))
	}
	errc := make(chan error, 1)
	go func() {
		_, err := latest.Next(ctx)
		errc <- err
	}()
	time.Sleep(30 * time.Millisecond)
	ro.Close()
	if err := <-errc; !errors.Is(err, shmbuf.ErrClosed) {
		t.Fatalf("Next when the ring closed: %v, want ErrClosed", err)
	}
}

// observeChild opens RING_ADDR, first for writing (it reports the
// error), then read-only, observes from the oldest record, prints
// "observing" after RING_N records, then the rest until the end of the
// stream, and prints the records, one a line.
func observeChild() int {
	addr := os.Getenv("RING_ADDR")
	if r, err := shmbuf.OpenRing(addr); err == nil {
		r.Close()
		return childFail("OpenRing for writing succeeded")
	} else if !errors.Is(err, fs.ErrPermission) {
		return childFail("OpenRing for writing: %v, want a permission error", err)
	}
	r, err := shmbuf.OpenRingReadOnly(addr)
	if err != nil {
		return childFail("%v", err)
	}
	defer r.Close()
	ob, err := r.NewObserver(shmbuf.ObserverOptions{})
	if err != nil {
		return childFail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []string
	for {
		if len(recs) == envInt("RING_N", 0) {
			fmt.Println("observing")
		}
		rec, err := ob.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return childFail("%v", err)
		}
		recs = append(recs, string(rec))
	}
	fmt.Println(strings.Join(recs, "\n"))
	return 0
}

// TestObserver_AsAnotherUser: as nobody, through setpriv, a ring of
// root's with mode 0644 cannot be opened for writing but is observed:
// the records there, then one written while the observer sleeps, then
// the end of the stream. Root's writer is never held back.
func TestObserver_AsAnotherUser(t *testing.T) {
	t.Parallel()
	bin := nobodyBinary(t)
	addr := uniqueName(t)
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 4096, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	defer w.Close()
	for _, s := range []string{"one", "two", "three"} {
		w.Write([]byte(s))
	}
	cmd := exec.Command("setpriv", "--reuid="+nobody, "--regid="+nobody, "--clear-groups", bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=observe", "RING_ADDR="+addr, "RING_N=3")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if line, err := br.ReadString('\n'); err != nil || line != "observing\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child as nobody: %q, %v", line, err)
	}
	time.Sleep(50 * time.Millisecond) // the observer sleeps, usually
	w.Write([]byte("four"))
	w.Close()
	rest, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child as nobody: %v", err)
	}
	if got := string(rest); got != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("nobody observed %q", got)
	}
	if st, _ := r.Stat(); len(st.Readers) != 0 {
		t.Fatalf("the observer took a reader slot: %d readers", len(st.Readers))
	}
}

// TestObserver_Concurrent: an observer reading while a writer in another
// process writes at full speed through a small overwrite ring gets only
// whole records (each checksummed), in order, and losses that account
// exactly for the gaps between them, up to the end of the stream.
func TestObserver_Concurrent(t *testing.T) {
	const n, maxLen = 20000, 200
	r, addr := newRing(t, shmbuf.RingOptions{Size: 4096, MaxRecord: maxLen, Policy: shmbuf.PolicyOverwrite})
	ob, err := r.NewObserver(shmbuf.ObserverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the stream open until the child writer attached, which it
	// says with "ready". (Polling Stat for two writers missed, once in a
	// loaded .ci/run, a child that attached, wrote its records and left
	// between two polls.)
	hold, _ := r.NewWriter(shmbuf.WriterOptions{})
	p, _ := startChild(t, "ring-writer", "ready", "RING_ADDR="+addr, "RING_W=1", fmt.Sprint("RING_N=", n), fmt.Sprint("RING_MAXLEN=", maxLen))
	defer p.Wait()
	hold.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var next, read, lost uint64
	for {
		rec, err := ob.Next(ctx)
		if err == io.EOF {
			break
		}
		if le, ok := isLost(err); ok {
			next += le.Records
			lost += le.Records
			continue
		}
		if err != nil {
			t.Fatalf("after %d records: %v", read, err)
		}
		w, seq, err := checkRec(rec)
		if err != nil || w != 1 || seq != next {
			t.Fatalf("observer got writer %d seq %d (%v), want seq %d", w, seq, err, next)
		}
		next++
		read++
	}
	if next != n {
		t.Fatalf("observer read %d and lost %d records, want %d in all", read, lost, n)
	}
	t.Logf("observer read %d records and lost %d", read, lost)
}
