package shmbuf_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

func init() {
	childRoles["bench-ring-batch-writer"] = benchRingBatchWriterChild
}

// benchBatch is how many records the batch benchmark's writer gathers
// per WriteBatch, and its reader takes at most per ReadBatch.
const benchBatch = 256

// benchRingBatchWriterChild writes RING_N records of RING_SIZE bytes,
// filled in a staging buffer, benchBatch at a time with WriteBatch.
func benchRingBatchWriterChild() int {
	wait := waitNamed(os.Getenv("RING_WAIT"))
	_, w, err := childWriter(shmbuf.WriterOptions{Wait: wait})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.ParseUint(os.Getenv("RING_N"), 10, 64)
	size := envInt("RING_SIZE", 64)
	if p := os.Getenv("RING_PROF"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	stage := make([]byte, size*benchBatch)
	recs := make([][]byte, benchBatch)
	for i := range recs {
		recs[i] = stage[i*size : (i+1)*size : (i+1)*size]
	}
	waitStart()
	for seq := uint64(0); seq < n; {
		k := min(uint64(benchBatch), n-seq)
		for i := range k {
			fillPattern(recs[i], seq+i)
		}
		if _, err := w.WriteBatch(recs[:k]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		seq += k
	}
	w.Close()
	return 0
}

func benchRingBatch(b *testing.B, size int, ringSize int64) {
	rd, cmd, start := benchRingPair(b, "bench-ring-batch-writer", size, ringSize)
	ctx := context.Background()
	recs := make([][]byte, benchBatch)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	placed := placementGate(b)
	b.ResetTimer()
	t0 := time.Now()
	start()
	for seq := uint64(0); seq < uint64(b.N); {
		m, err := rd.ReadBatch(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		for _, rec := range recs[:m] {
			if len(rec) != size || !checkPattern(rec, seq) {
				b.Fatalf("record %d corrupt", seq)
			}
			seq++
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

// BenchmarkRingBatch_Throughput: a writer process → a reader process with
// the batch API, beside the single-record ring and a pipe.
//
//	go test -run '^$' -bench 'Throughput' -benchtime 2s .
func BenchmarkRingBatch_Throughput(b *testing.B) {
	b.Run("ring-batch/64B", func(b *testing.B) { benchRingBatch(b, 64, 1<<20) })
	b.Run("ring/64B", func(b *testing.B) { benchRing(b, 64, 1<<20) })
	b.Run("pipe/64B", func(b *testing.B) { benchPipe(b, 64) })
}

// BenchmarkRingBatch_CodePath writes and reads 64-byte records in batches
// of 64 in one goroutine: the batch API's cost per record without
// cache-line transfers between cores (compare BenchmarkRing_CodePath).
func BenchmarkRingBatch_CodePath(b *testing.B) {
	addr := uniqueName(b)
	r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer shmbuf.Remove(addr)
	defer r.Close()
	w, _ := r.NewWriter(shmbuf.WriterOptions{})
	rd, _ := r.NewReader(shmbuf.ReaderOptions{})
	const batch = 64
	recs := make([][]byte, batch)
	for i := range recs {
		recs[i] = make([]byte, 64)
	}
	out := make([][]byte, batch)
	ctx := context.Background()
	b.SetBytes(64 * batch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.WriteBatch(recs); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			n, err := rd.ReadBatch(ctx, out)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
}
