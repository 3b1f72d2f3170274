package bench

import (
	"testing"
)

// BenchmarkTransport measures every transport at 64 B and 64 KiB, in
// throughput (b.N records, writer flat out; ns/op is per record) and
// latency (b.N ping-pong round trips; ns/op is a round trip). Writer and
// reader are peer processes, as in `shmbuf bench`; the timer runs only
// while they exchange records. Compare runs with benchstat:
//
//	go test -run '^$' -bench . -count 6 ./internal/bench > new.txt
func BenchmarkTransport(b *testing.B) {
	for _, t := range all {
		for _, size := range []int{64, 64 << 10} {
			if t.Unsupported(size) != "" {
				continue
			}
			for _, mode := range []string{modeThroughput, modeLatency} {
				b.Run(t.Name()+"/"+sizeLabel(size)+"/"+mode, func(b *testing.B) {
					benchCell(b, t, size, mode)
				})
			}
		}
	}
}

func benchCell(b *testing.B, t Transport, size int, mode string) {
	reg := newRegistry()
	defer func() {
		if err := reg.runAll(); err != nil {
			b.Error(err)
		}
	}()
	h, err := newHarness(reg, settings{Count: b.N})
	if err != nil {
		b.Fatal(err)
	}
	h.started, h.finished = b.StartTimer, b.StopTimer
	b.StopTimer()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	run, err := h.run(b.Context(), t, size, mode)
	if err != nil {
		b.Fatal(err)
	}
	if mode == modeThroughput {
		var got, lost uint64
		for _, p := range run.reader.Phases {
			got += p.Records
			lost += p.Lost
		}
		if t.Lossy() {
			b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
		}
		if n := run.writer.CPURecords + run.reader.CPURecords; n > 0 {
			b.ReportMetric(float64(run.writer.CPUNs)/float64(max(run.writer.CPURecords, 1))+
				float64(run.reader.CPUNs)/float64(max(run.reader.CPURecords, 1)), "cpu-ns/op")
		}
		if !t.Lossy() && got+1 < uint64(b.N) {
			b.Fatalf("reader verified %d of %d records", got, b.N)
		}
	}
}
