package shmbuf_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// Records in the ring tests are checksummed and sequence-numbered:
// [writer u32][seq u64][filler…][crc32 of the rest u32], with a length
// that depends on seq, so a torn, reordered or foreign record is caught.
const recMin = 16

func recLen(seq uint64, maxLen int) int {
	return recMin + int(seq*7919%uint64(maxLen-recMin+1))
}

func fillRec(b []byte, w uint32, seq uint64) {
	binary.LittleEndian.PutUint32(b, w)
	binary.LittleEndian.PutUint64(b[4:], seq)
	for i := 12; i < len(b)-4; i++ {
		b[i] = byte(seq*31 + uint64(i)*7 + uint64(w))
	}
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
}

func checkRec(b []byte) (w uint32, seq uint64, err error) {
	if len(b) < recMin {
		return 0, 0, fmt.Errorf("record of %d bytes", len(b))
	}
	if crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, 0, fmt.Errorf("torn record: checksum mismatch (len %d)", len(b))
	}
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[4:]), nil
}

// streamHash is the sha256 of records 0..n-1 of writer w.
func streamHash(w uint32, n uint64, maxLen int) string {
	h := sha256.New()
	buf := make([]byte, maxLen)
	for seq := range n {
		b := buf[:recLen(seq, maxLen)]
		fillRec(b, w, seq)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func init() {
	childRoles["ring-writer"] = ringWriterChild
	childRoles["ring-reader"] = ringReaderChild
	childRoles["ring-claimer"] = ringClaimerChild
	childRoles["ring-stuck-reader"] = ringStuckReaderChild
}

// ringWriterChild writes RING_N records (forever if negative) as writer
// RING_W, then closes unless RING_NOCLOSE is set.
func ringWriterChild() int {
	_, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id := uint32(envInt("RING_W", 0))
	n := envInt("RING_N", 1000)
	maxLen := envInt("RING_MAXLEN", 200)
	fmt.Println("ready")
	buf := make([]byte, maxLen)
	for seq := uint64(0); n < 0 || seq < uint64(n); seq++ {
		b := buf[:recLen(seq, maxLen)]
		fillRec(b, id, seq)
		if _, err := w.Write(b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if os.Getenv("RING_NOCLOSE") != "" {
		return 0 // exit without Close: the stream is lost
	}
	if err := w.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// ringReaderChild reads until the end of the stream, checking every
// record and each writer's order, and prints "N HASH" where HASH covers
// the concatenated payloads.
func ringReaderChild() int {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wait := waitEnv("RING_WAIT")
	rd, err := r.NewReader(shmbuf.ReaderOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h := sha256.New()
	next := map[uint32]uint64{}
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		rec, err := rd.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
		w, seq, err := checkRec(rec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reader:", err)
			return 1
		}
		if seq != next[w] {
			fmt.Fprintf(os.Stderr, "reader: writer %d: got seq %d, want %d\n", w, seq, next[w])
			return 1
		}
		next[w]++
		h.Write(rec)
		n++
	}
	fmt.Printf("%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	rd.Close()
	return 0
}

// ringClaimerChild writes RING_N records, then claims a record and never
// commits it, and waits to be killed.
func ringClaimerChild() int {
	_, w, err := childWriter(shmbuf.WriterOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, 100)
	for seq := uint64(0); seq < uint64(envInt("RING_N", 5)); seq++ {
		b := buf[:recLen(seq, 100)]
		fillRec(b, 7, seq)
		w.Write(b)
	}
	if _, err := w.Claim(64); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("claimed")
	time.Sleep(time.Minute)
	return 1
}

// ringStuckReaderChild attaches a reader, reads one record, then holds
// its cursor without reading until killed.
func ringStuckReaderChild() int {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := r.NewReader(shmbuf.ReaderOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("attached")
	time.Sleep(time.Minute)
	return 1
}

// newRing creates a ring at a unique posix name, removed at cleanup.
func newRing(t *testing.T, opts shmbuf.RingOptions) (*shmbuf.Ring, string) {
	t.Helper()
	addr := uniqueName(t)
	r, err := shmbuf.CreateRing(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		shmbuf.Remove(addr)
	})
	return r, addr
}

// startChild starts a role and waits for its first output line.
func startChild(t *testing.T, role, want string, env ...string) (*os.Process, *bufio.Reader) {
	t.Helper()
	cmd := childCmd(t, role, env...)
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
			t.Fatalf("%s: first line %q, %v; want %q", role, line, err, want)
		}
	}
	return cmd.Process, br
}

// waitFor polls cond every millisecond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func isLost(err error) (*shmbuf.LostError, bool) {
	var le *shmbuf.LostError
	ok := errors.As(err, &le)
	return le, ok
}

// liveAfterReap reaps r's dead peers, as a waiting writer does every
// liveness tick, and checks that its readers readers are all still
// attached and alive: the state that makes a writer wait for them, found
// without waiting to see whether it does.
func liveAfterReap(t *testing.T, r *shmbuf.Ring, readers int) {
	t.Helper()
	if err := r.Reap(); err != nil {
		t.Fatal(err)
	}
	st, err := r.Stat()
	if err != nil {
		t.Fatal(err)
	}
	alive := 0
	for _, p := range st.Readers {
		if p.Alive {
			alive++
		}
	}
	if len(st.Readers) != readers || alive != readers {
		t.Fatalf("after a reap: readers %+v, want %d attached and alive", st.Readers, readers)
	}
}

// childWriter opens the ring at RING_ADDR and attaches a writer with o:
// how most test children start. The Ring stays the caller's to close (a
// child that is to die holding its slot never closes it).
func childWriter(o shmbuf.WriterOptions) (*shmbuf.Ring, *shmbuf.Writer, error) {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		return nil, nil, err
	}
	w, err := r.NewWriter(o)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, w, nil
}

// childReader is childWriter for a reader.
func childReader(o shmbuf.ReaderOptions) (*shmbuf.Ring, *shmbuf.Reader, error) {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		return nil, nil, err
	}
	rd, err := r.NewReader(o)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, rd, nil
}

// runPair starts the reader child role (which prints "ready" once
// attached), waits until it has attached to r, runs the writer child role
// to its end, waits for the reader, and returns what the reader printed.
func runPair(t *testing.T, r *shmbuf.Ring, reader, writer string, env []string) string {
	t.Helper()
	rc := childCmd(t, reader, env...)
	out := &strings.Builder{}
	rc.Stdout = out
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the reader to attach", func() bool {
		st, _ := r.Stat()
		return len(st.Readers) == 1
	})
	if err := childCmd(t, writer, env...).Run(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if err := rc.Wait(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	return out.String()
}
