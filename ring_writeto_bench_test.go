package shmbuf_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
)

// BenchmarkRingWriteTo: a writer process writes records with WriteBatch,
// and the reader copies the stream to /dev/null with WriteTo, so that
// what is measured is the ring and the system calls WriteTo makes, not
// the device.
//
//	go test -run '^$' -bench RingWriteTo -benchtime 2000000x .
func BenchmarkRingWriteTo(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		b.Run(fmt.Sprint(size, "B"), func(b *testing.B) {
			addr := uniqueName(b)
			r, err := shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: max(1<<20, 4*int64(size))})
			if err != nil {
				b.Fatal(err)
			}
			defer shmbuf.Remove(addr)
			defer r.Close()
			rd, err := r.NewReader(shmbuf.ReaderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			cmd := childCmd(b, "bench-ring-batch-writer", "RING_ADDR="+addr, fmt.Sprint("RING_N=", b.N),
				fmt.Sprint("RING_SIZE=", size), "RING_WAIT=adaptive")
			start := startBenchChild(b, cmd)
			b.SetBytes(int64(size))
			b.ResetTimer()
			t0 := time.Now()
			start()
			n, err := rd.WriteTo(f)
			if err != nil || n != int64(b.N)*int64(size) {
				b.Fatalf("WriteTo: %d bytes, %v; want %d", n, err, b.N*size)
			}
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "rec/s")
			b.StopTimer()
			if err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
