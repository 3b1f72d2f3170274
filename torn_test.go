package shmbuf_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/testenv"
)

// Torn-value tests: writer processes rewrite a segment in a loop with
// self-checking values of varying length while this process reads, and
// every value read must be one of them, whole.
//
// A value is seq(8) | n(4) | payload(n) | fnv64a(seq, n, payload)(8) | 'E'.
// The final 'E' keeps a fixed region's NUL trimming from eating into it.
// seq carries the writer's id in its top 16 bits.
const (
	tornMaxPayload = 3000
	tornCapacity   = 8 + 4 + tornMaxPayload + 8 + 1
	tornMaxReads   = 2_000_000
	tornReadMax    = 10 * time.Second // until the race is seen, on a loaded machine
	tornWriterMax  = 20 * time.Second // a writer's own limit, in case nobody stops it
)

func tornEncode(buf []byte, seq uint64) []byte {
	n := int(seq*7919%tornMaxPayload) + 1
	buf = buf[:0]
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	for i := range n {
		buf = append(buf, byte(seq>>(i%8*8))^byte(i)|1)
	}
	h := fnv.New64a()
	h.Write(buf)
	buf = binary.LittleEndian.AppendUint64(buf, h.Sum64())
	return append(buf, 'E')
}

// tornDecode returns the value's seq, or an error saying how it is torn.
func tornDecode(v []byte) (uint64, error) {
	if len(v) < 8+4+8+1 {
		return 0, fmt.Errorf("%d bytes, shorter than any value", len(v))
	}
	n := int(binary.LittleEndian.Uint32(v[8:]))
	if len(v) != 8+4+n+8+1 {
		return 0, fmt.Errorf("%d bytes, its length field says %d", len(v), 8+4+n+8+1)
	}
	if v[len(v)-1] != 'E' {
		return 0, fmt.Errorf("no end mark")
	}
	h := fnv.New64a()
	h.Write(v[:8+4+n])
	if h.Sum64() != binary.LittleEndian.Uint64(v[8+4+n:]) {
		return 0, fmt.Errorf("checksum mismatch")
	}
	return binary.LittleEndian.Uint64(v), nil
}

// tornWriterLoop stores values until stdin closes (or its own limit), then
// prints how many it stored.
func tornWriterLoop(store func([]byte) error) int {
	id, _ := strconv.Atoi(os.Getenv("SHMBUF_TEST_WRITER"))
	var stop atomic.Bool
	go func() { io.Copy(io.Discard, os.Stdin); stop.Store(true) }()
	deadline := time.Now().Add(tornWriterMax)
	buf := make([]byte, 0, tornCapacity)
	n := uint64(0)
	for ; !stop.Load() && time.Now().Before(deadline); n++ {
		if err := store(tornEncode(buf, uint64(id)<<48|n)); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			return 1
		}
		if n == 0 {
			fmt.Println("ready")
		}
	}
	fmt.Println(n)
	return 0
}

func init() {
	childRoles["torn-raw-writer"] = func() int {
		r, err := shmbuf.OpenRaw(os.Getenv("SHMBUF_TEST_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer r.Close()
		return tornWriterLoop(r.Store)
	}
	childRoles["torn-snapshot-writer"] = func() int {
		s, err := shmbuf.OpenSnapshot(os.Getenv("SHMBUF_TEST_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer s.Close()
		return tornWriterLoop(s.Publish)
	}
}

// tornReadFor is how long tornRun reads at least (and until it has seen
// the value change a hundred times, from every writer): by default 100 ms,
// thousands of values; SHMBUF_LONG=1 reads for 10 s.
func tornReadFor() time.Duration {
	return testenv.ShortOrLong(100*time.Millisecond, 10*time.Second)
}

// tornRun starts writers of role on addr, reads with load for
// tornReadFor (longer if the writers have not yet been seen changing the
// value 100 times), then stops the writers and checks what was read.
func tornRun(t *testing.T, addr, role string, writers int, load func() ([]byte, error)) {
	type writer struct {
		stdin io.Closer
		out   *bufio.Reader
		wait  func() error
	}
	var ws []writer
	for id := range writers {
		cmd := childCmd(t, role, "SHMBUF_TEST_ADDR="+addr, "SHMBUF_TEST_WRITER="+strconv.Itoa(id+1))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close() })
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w := writer{stdin, bufio.NewReader(stdout), cmd.Wait}
		if line, err := w.out.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("writer %d: %q, %v", id+1, line, err)
		}
		ws = append(ws, w)
	}

	var reads, changes, torn int
	seenWriter := map[uint64]int{}
	var last uint64
	var firstTorn error
	start := time.Now()
	readFor := tornReadFor()
	for reads < tornMaxReads {
		if d := time.Since(start); d >= tornReadMax || d >= readFor && changes >= 100 && len(seenWriter) == writers {
			break
		}
		v, err := load()
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		reads++
		seq, err := tornDecode(v)
		if err != nil {
			if torn++; firstTorn == nil {
				firstTorn = fmt.Errorf("read %d: torn value: %v", reads, err)
			}
			continue
		}
		if seq != last {
			changes++
			seenWriter[seq>>48]++
			last = seq
		}
	}
	elapsed := time.Since(start)

	stored := 0
	for i, w := range ws {
		w.stdin.Close()
		done := make(chan error, 1)
		var line string
		go func() {
			var err error
			line, err = w.out.ReadString('\n')
			if err == nil {
				err = w.wait()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer %d: %v", i+1, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("writer %d did not stop", i+1)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("writer %d printed %q", i+1, line)
		}
		stored += n
	}
	t.Logf("%d reads in %v: %d value changes seen, %d torn; writers stored %d values; seen per writer %v",
		reads, elapsed.Round(time.Millisecond), changes, torn, stored, seenWriter)
	if torn > 0 {
		t.Fatalf("%d torn values out of %d reads; first: %v", torn, reads, firstTorn)
	}
	// The race must have been exercised: the reader saw the value change
	// many times while the writers kept rewriting it.
	if changes < 100 {
		t.Fatalf("only %d value changes seen in %d reads: the race was not exercised", changes, reads)
	}
	if len(seenWriter) != writers {
		t.Fatalf("values seen from %d writers, want %d", len(seenWriter), writers)
	}
}

func TestRaw_NoTornValues(t *testing.T) {
	t.Run("resizable", func(t *testing.T) {
		addr := posixTestAddr(t)
		if err := shmbuf.StoreRaw(addr, tornEncode(nil, 0), 0); err != nil {
			t.Fatal(err)
		}
		r, err := shmbuf.OpenRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Fixed() {
			t.Fatal("StoreRaw made a fixed segment")
		}
		tornRun(t, addr, "torn-raw-writer", 1, r.Load)
	})
	t.Run("fixed", func(t *testing.T) {
		addr := posixTestAddr(t)
		w, err := shmbuf.CreateRaw(addr, shmbuf.CreateOptions{Size: tornCapacity})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Store(tornEncode(nil, 0)); err != nil {
			t.Fatal(err)
		}
		r, err := shmbuf.OpenRawReadOnly(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		tornRun(t, addr, "torn-raw-writer", 1, r.Load)
	})
	t.Run("two-writers", func(t *testing.T) {
		addr := posixTestAddr(t)
		if err := shmbuf.StoreRaw(addr, tornEncode(nil, 0), 0); err != nil {
			t.Fatal(err)
		}
		r, err := shmbuf.OpenRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		tornRun(t, addr, "torn-raw-writer", 2, r.Load)
	})
}

func TestSnapshot_NoTornValues(t *testing.T) {
	for _, writers := range []int{1, 2} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			addr := posixTestAddr(t)
			s := mustCreateSnapshot(t, addr, tornCapacity)
			r := mustOpenSnapshot(t, addr)
			buf := make([]byte, 0, tornCapacity)
			tornRun(t, addr, "torn-snapshot-writer", writers, func() ([]byte, error) {
				v, _, err := r.Load(buf)
				if err == nil && len(v) == 0 {
					return nil, errors.New("empty value after the writers' first Publish")
				}
				return v, err
			})
			if s.Generation() < 100 {
				t.Fatalf("generation %d after the run", s.Generation())
			}
		})
	}
}

// TestTornDecode checks the checker: it must reject a mix of two values.
func TestTornDecode(t *testing.T) {
	a := tornEncode(nil, 1)
	b := tornEncode(nil, 2)
	if seq, err := tornDecode(a); err != nil || seq != 1 {
		t.Fatalf("decode(a) = %d, %v", seq, err)
	}
	mixed := append([]byte{}, b...)
	copy(mixed[12:], a[12:min(len(a), len(b))-9])
	if _, err := tornDecode(mixed); err == nil {
		t.Fatal("a mix of two values decodes")
	}
	if _, err := tornDecode(a[:len(a)-1]); err == nil {
		t.Fatal("a cut value decodes")
	}
	if _, err := tornDecode(make([]byte, len(a))); err == nil {
		t.Fatal("zeros decode")
	}
}
