package bench

import (
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// quickSettings keep harness tests short; speed is not what they check.
var quickSettings = settings{Warmup: 1, Reps: 2, Phase: 2 * time.Millisecond, MinCount: 20}

func newTestHarness(t *testing.T) *harness {
	t.Helper()
	reg := newRegistry()
	t.Cleanup(func() {
		if err := reg.runAll(); err != nil {
			t.Error(err)
		}
	})
	h, err := newHarness(reg, quickSettings)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHarness_EveryTransport runs every transport in both modes at a
// small and a large size (and one between, with SHMBUF_LONG=1) and checks
// the reports make sense: records were verified, phases measured, latency
// recorded.
func TestHarness_EveryTransport(t *testing.T) {
	h := newTestHarness(t)
	sizes := testenv.ShortOrLong([]int{MinSize, 64 << 10}, []int{MinSize, 100, 64 << 10})
	for _, tr := range all {
		for _, size := range sizes {
			if why := tr.Unsupported(size); why != "" {
				t.Logf("%s %d: n/a: %s", tr.Name(), size, why)
				continue
			}
			t.Run(tr.Name()+"/"+sizeLabel(size), func(t *testing.T) {
				ctx := t.Context()
				r, err := h.run(ctx, tr, size, modeThroughput)
				if err != nil {
					t.Fatalf("throughput: %v", err)
				}
				if len(r.reader.Phases) != quickSettings.Reps {
					t.Fatalf("reader measured %d phases, want %d", len(r.reader.Phases), quickSettings.Reps)
				}
				var got uint64
				for _, p := range r.reader.Phases {
					got += p.Records
					if p.Nanos <= 0 {
						t.Errorf("phase of %d ns", p.Nanos)
					}
					if p.Lost > 0 && !tr.Lossy() {
						t.Errorf("lossless transport lost %d", p.Lost)
					}
				}
				if got == 0 || r.writer.Sent < got {
					t.Errorf("writer sent %d, reader measured %d", r.writer.Sent, got)
				}
				l, err := h.run(ctx, tr, size, modeLatency)
				if err != nil {
					t.Fatalf("latency: %v", err)
				}
				// A phase normally holds MinCount round trips, but one
				// that lasts 20×Phase ends with fewer (a loaded machine).
				lat := l.writer.Latency
				if lat == nil || lat.Samples < int64(quickSettings.Reps) || len(lat.RepP50) != quickSettings.Reps ||
					lat.P50 <= 0 || lat.P99 < lat.P50 || lat.P999 < lat.P99 {
					t.Errorf("latency report %+v", lat)
				}
				if l.reader.CPURecords < uint64(lat.Samples) {
					t.Errorf("ponger echoed %d records, pinger measured %d round trips", l.reader.CPURecords, lat.Samples)
				}
			})
		}
	}
}
