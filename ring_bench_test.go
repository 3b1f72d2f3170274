package shmbuf_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/placement"
)

// Benchmarks: a writer process (this test binary re-executed) streams
// records to the benchmark process, which checks every byte; the same
// transfer over an os.Pipe runs in the same benchmark for comparison.
//
// Every payload is its sequence number repeated: the reader checks the
// first 8 bytes and that the payload is 8-periodic (one memcmp), so every
// byte is verified at memory speed.

func init() {
	childRoles["bench-ring-writer"] = benchRingWriterChild
	childRoles["bench-pipe-writer"] = benchPipeWriterChild
	childRoles["bench-ring-echo"] = benchRingEchoChild
	childRoles["bench-pipe-echo"] = benchPipeEchoChild
}

func fillPattern(b []byte, seq uint64) {
	if len(b) <= smallPattern {
		i := 0
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], seq)
		}
		var t [8]byte
		binary.LittleEndian.PutUint64(t[:], seq)
		copy(b[i:], t[:])
		return
	}
	binary.LittleEndian.PutUint64(b, seq)
	for k := 8; k < len(b); k *= 2 {
		copy(b[k:], b[:k])
	}
}

// smallPattern is the size up to which records are filled and checked
// word by word: cheaper than memmove/memcmp calls, so that the harness
// costs less than the transport it measures.
const smallPattern = 256

func checkPattern(b []byte, seq uint64) bool {
	if len(b) < 8 || binary.LittleEndian.Uint64(b) != seq {
		return false
	}
	if len(b) <= smallPattern {
		i := 8
		for ; i+8 <= len(b); i += 8 {
			if binary.LittleEndian.Uint64(b[i:]) != seq {
				return false
			}
		}
		return bytes.Equal(b[i:], b[:len(b)-i])
	}
	return bytes.Equal(b[8:], b[:len(b)-8])
}

// waitStart prints "ready" and waits for the parent's go byte on stdin,
// so process start-up stays out of the timing.
func waitStart() {
	fmt.Println("ready")
	var b [1]byte
	os.Stdin.Read(b[:])
}

func benchRingWriterChild() int {
	r, err := shmbuf.OpenRing(os.Getenv("RING_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wait := waitEnv("RING_WAIT")
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.ParseUint(os.Getenv("RING_N"), 10, 64)
	size := envInt("RING_SIZE", 64)
	if p := os.Getenv("RING_PROF"); p != "" { // profile the writer side
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	waitStart()
	if size <= smallPattern {
		// Small records: fill a buffer in L1 and Write it (one call,
		// one copy); Claim/Commit would cost two calls per record.
		buf := make([]byte, size)
		for seq := range n {
			fillPattern(buf, seq)
			if _, err := w.Write(buf); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	} else {
		// Large records: fill in place (zero-copy).
		for seq := range n {
			b, err := w.Claim(size)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fillPattern(b, seq)
			w.Commit()
		}
	}
	w.Close()
	return 0
}

func benchPipeWriterChild() int {
	f := os.NewFile(3, "pipe")
	n, _ := strconv.ParseUint(os.Getenv("RING_N"), 10, 64)
	buf := make([]byte, envInt("RING_SIZE", 64))
	waitStart()
	for seq := range n {
		fillPattern(buf, seq)
		if _, err := f.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	f.Close()
	return 0
}

// startBenchChild starts a role, waits for "ready", and returns a
// function that sends the go byte.
func startBenchChild(b *testing.B, cmd *exec.Cmd) func() {
	b.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("child: %q, %v", line, err)
	}
	return func() { in.Write([]byte{1}) }
}

// benchRingPair creates a ring of ringSize bytes, attaches a reader here
// and starts the writer child role, which is to send b.N records of size
// bytes once start is called; the ring goes when the benchmark ends.
func benchRingPair(b *testing.B, role string, size int, ringSize int64) (rd *shmbuf.Reader, cmd *exec.Cmd, start func()) {
	addr := uniqueName(b)
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: ringSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		r.Close()
		shmbuf.Remove(addr)
	})
	rd, err = r.NewReader(shmbuf.ReaderOptions{Wait: benchWait()})
	if err != nil {
		b.Fatal(err)
	}
	cmd = childCmd(b, role, "RING_ADDR="+addr, fmt.Sprint("RING_N=", b.N),
		fmt.Sprint("RING_SIZE=", size), "RING_WAIT="+benchWait().String())
	return rd, cmd, startBenchChild(b, cmd)
}

// placementGate keeps a two-process benchmark in one placement of the
// machine's two cores when SHMBUF_BENCH_PLACEMENT gives a band of round
// trips (as shmbuf bench --placement does, see internal/placement): with
// the child started and idle, it waits up to 3 s for a probe in the
// band; the function it returns, called after the timed part, reports
// the probes before and after as metrics, so that a figure measured
// elsewhere shows. Without the variable it does nothing.
func placementGate(b *testing.B) (after func()) {
	band := os.Getenv("SHMBUF_BENCH_PLACEMENT")
	if band == "" {
		return func() {}
	}
	lo, hi, err := placement.ParseBand(band)
	if err != nil {
		b.Fatalf("SHMBUF_BENCH_PLACEMENT=%q: %v", band, err)
	}
	cpus, ok := placement.Pair(nil)
	if !ok {
		b.Fatal("SHMBUF_BENCH_PLACEMENT needs a 2-core machine: the benchmark's processes are not pinned")
	}
	before, err := placement.Await(context.Background(), cpus[0], cpus[1], lo, hi, time.Now().Add(3*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		after, err := placement.Probe(cpus[0], cpus[1], placement.Window)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(before.Nanoseconds()), "rtt-before-ns")
		b.ReportMetric(float64(after.Nanoseconds()), "rtt-after-ns")
	}
}

func benchRing(b *testing.B, size int, ringSize int64) {
	rd, cmd, start := benchRingPair(b, "bench-ring-writer", size, ringSize)
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	placed := placementGate(b)
	b.ResetTimer()
	t0 := time.Now()
	start()
	for seq := range uint64(b.N) {
		rec, err := rd.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(rec) != size || !checkPattern(rec, seq) {
			b.Fatalf("record %d corrupt", seq)
		}
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "rec/s")
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	placed()
}

func benchPipe(b *testing.B, size int) {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer pr.Close()
	cmd := childCmd(b, "bench-pipe-writer", fmt.Sprint("RING_N=", b.N), fmt.Sprint("RING_SIZE=", size))
	cmd.ExtraFiles = []*os.File{pw}
	start := startBenchChild(b, cmd)
	pw.Close()
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	placed := placementGate(b)
	b.ResetTimer()
	t0 := time.Now()
	start()
	for seq := range uint64(b.N) {
		if _, err := io.ReadFull(pr, buf); err != nil {
			b.Fatal(err)
		}
		if !checkPattern(buf, seq) {
			b.Fatalf("record %d corrupt", seq)
		}
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "rec/s")
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	placed()
}

// BenchmarkRing_Throughput: writer process → reader process.
//
//	go test -run '^$' -bench 'Throughput' -benchtime 2s .
func BenchmarkRing_Throughput(b *testing.B) {
	b.Run("ring/64B", func(b *testing.B) { benchRing(b, 64, 1<<20) })
	b.Run("pipe/64B", func(b *testing.B) { benchPipe(b, 64) })
	b.Run("ring/64KiB", func(b *testing.B) { benchRing(b, 64<<10, 1<<20) })
	b.Run("pipe/64KiB", func(b *testing.B) { benchPipe(b, 64<<10) })
}

// Latency: ping-pong of 64-byte records between two processes; one-way
// latency is half the round trip.

func benchRingEchoChild() int {
	in, err := shmbuf.OpenRing(os.Getenv("RING_IN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, err := shmbuf.OpenRing(os.Getenv("RING_OUT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wait := waitEnv("RING_WAIT")
	rd, err := in.NewReader(shmbuf.ReaderOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := out.NewWriter(shmbuf.WriterOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	ctx := context.Background()
	for {
		rec, err := rd.Next(ctx)
		if err != nil {
			w.Close()
			return 0 // io.EOF: the parent is done
		}
		if _, err := w.Write(rec); err != nil {
			return 1
		}
	}
}

func benchPipeEchoChild() int {
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	fmt.Println("ready")
	buf := make([]byte, 64)
	for {
		if _, err := io.ReadFull(in, buf); err != nil {
			return 0
		}
		if _, err := out.Write(buf); err != nil {
			return 1
		}
	}
}

func reportLatency(b *testing.B, rtts []time.Duration) {
	slices.Sort(rtts)
	p := func(q float64) float64 { return float64(rtts[int(q*float64(len(rtts)-1))]) / 2 }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

func benchRingLatency(b *testing.B, wait shmbuf.WaitStrategy) {
	mk := func() (*shmbuf.Ring, string) {
		addr := uniqueName(b)
		r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 64 << 10})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close(); shmbuf.Remove(addr) })
		return r, addr
	}
	ping, pingAddr := mk()
	pong, pongAddr := mk()
	w, _ := ping.NewWriter(shmbuf.WriterOptions{Wait: wait})
	rd, _ := pong.NewReader(shmbuf.ReaderOptions{Wait: wait})
	cmd := childCmd(b, "bench-ring-echo", "RING_IN="+pingAddr, "RING_OUT="+pongAddr, "RING_WAIT="+wait.String())
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	bufio.NewReader(out).ReadString('\n')
	buf := make([]byte, 64)
	rtts := make([]time.Duration, 0, min(b.N, 1<<20))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fillPattern(buf, uint64(i))
		t0 := time.Now()
		w.Write(buf)
		rec, err := rd.Next(ctx)
		d := time.Since(t0)
		if err != nil || !checkPattern(rec, uint64(i)) {
			b.Fatalf("echo %d: %v", i, err)
		}
		if len(rtts) < cap(rtts) {
			rtts = append(rtts, d)
		}
	}
	b.StopTimer()
	w.Close()
	cmd.Wait()
	reportLatency(b, rtts)
}

func benchPipeLatency(b *testing.B) {
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	defer r2.Close()
	defer w1.Close()
	cmd := childCmd(b, "bench-pipe-echo")
	cmd.ExtraFiles = []*os.File{r1, w2}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r1.Close()
	w2.Close()
	bufio.NewReader(out).ReadString('\n')
	buf := make([]byte, 64)
	rtts := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fillPattern(buf, uint64(i))
		t0 := time.Now()
		w1.Write(buf)
		io.ReadFull(r2, buf)
		d := time.Since(t0)
		if !checkPattern(buf, uint64(i)) {
			b.Fatalf("echo %d corrupt", i)
		}
		if len(rtts) < cap(rtts) {
			rtts = append(rtts, d)
		}
	}
	b.StopTimer()
	w1.Close()
	cmd.Wait()
	reportLatency(b, rtts)
}

// BenchmarkRing_Latency: one-way latency of 64-byte records.
//
//	go test -run '^$' -bench 'Latency' -benchtime 200000x .
func BenchmarkRing_Latency(b *testing.B) {
	b.Run("ring/spin", func(b *testing.B) { benchRingLatency(b, shmbuf.WaitSpin) })
	b.Run("ring/adaptive", func(b *testing.B) { benchRingLatency(b, shmbuf.WaitAdaptive) })
	b.Run("pipe", benchPipeLatency)
}

// benchWait is the strategy of the throughput benchmark's two sides:
// RING_BENCH_WAIT (spin, adaptive, block), default adaptive.
func benchWait() shmbuf.WaitStrategy {
	w := waitEnv("RING_BENCH_WAIT")
	return w
}

// BenchmarkRing_CodePath writes and reads 64-byte records in one
// goroutine: the cost of the code path alone, without cache-line
// transfers between cores.
func BenchmarkRing_CodePath(b *testing.B) {
	addr := uniqueName(b)
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 256 << 10})
	if err != nil {
		b.Fatal(err)
	}
	defer shmbuf.Remove(addr)
	defer r.Close()
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	buf := make([]byte, 64)
	ctx := context.Background()
	b.SetBytes(64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := rd.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
