package bench

import (
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestScaling_TwoWritersTwoReaders runs every scaling transport with two
// writer processes into one reader and one writer to two readers.
func TestScaling_TwoWritersTwoReaders(t *testing.T) {
	o := Options{Placement: PlacementAny, Scaling: true, Peers: []int{2}, Sizes: []int{64}, Warmup: 0, Reps: 2,
		Phase: 10 * time.Millisecond, MinCount: 20, Quiet: true}
	rep, err := Run(t.Context(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scaling) != 2*len(scalers) {
		t.Fatalf("%d scaling results, want %d", len(rep.Scaling), 2*len(scalers))
	}
	cores := len(availableCPUs())
	for _, r := range rep.Scaling {
		name := r.Transport + " " + r.Direction
		if r.Failed {
			t.Errorf("%s failed: %s", name, r.Note)
			continue
		}
		if r.Writers+r.Readers != 3 || (r.Direction == fanIn) != (r.Writers == 2) {
			t.Errorf("%s: %d writers, %d readers", name, r.Writers, r.Readers)
		}
		if r.MsgsPerS <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.LatSamples < 10 {
			t.Errorf("%s: empty measurement %+v", name, r)
		}
		if r.Oversubscribed != (3 > cores) || r.Processes != 3 || r.Cores != cores {
			t.Errorf("%s: oversubscribed %v with %d processes on %d cores", name, r.Oversubscribed, r.Processes, r.Cores)
		}
	}
}

// fakeReceiver hands out prepared records.
type fakeReceiver struct{ recs [][]byte }

func (f *fakeReceiver) Recv() ([]byte, error) {
	if len(f.recs) == 0 {
		return nil, io.EOF
	}
	r := f.recs[0]
	f.recs = f.recs[1:]
	return r, nil
}

func (f *fakeReceiver) Close() error { return nil }

// TestScaling_ReaderVerifies feeds a scaling reader streams from two
// writers, interleaved as a shared ring or queue delivers them, and checks
// that it accepts a good one and refuses each kind of bad one.
func TestScaling_ReaderVerifies(t *testing.T) {
	const size = 64
	pat := newPattern(size)
	stamped := false
	rec := func(writer, n uint64, mutate func([]byte)) []byte {
		b := make([]byte, size)
		pat.fill(b, writer<<writerShift|n)
		if stamped {
			stampTime(b, monoNow())
		}
		if mutate != nil {
			mutate(b)
		}
		return b
	}
	good := func() [][]byte {
		return [][]byte{rec(0, 1, nil), rec(1, 1, nil), rec(1, 2, nil), rec(0, 2, nil), rec(0, 3, nil),
			rec(1, 3, nil), rec(0, scaledEnd, nil), rec(1, scaledEnd, nil)}
	}
	cases := []struct {
		name string
		recs func() [][]byte
		want string
	}{
		{"good", good, ""},
		{"reordered", func() [][]byte { r := good(); r[1], r[2] = r[2], r[1]; return r }, "writer 1: records 1..1 lost"},
		{"duplicate", func() [][]byte { r := good(); r[4] = rec(0, 2, nil); return r }, "writer 0: record 2 arrived after 2"},
		{"torn", func() [][]byte { r := good(); r[3] = rec(0, 2, func(b []byte) { b[40] ^= 1 }); return r }, "byte 40"},
		{"unknown writer", func() [][]byte { r := good(); r[0] = rec(2, 1, nil); return r }, "from writer 2"},
		{"one end marker", func() [][]byte { r := good(); return r[:len(r)-1] }, "EOF"},
	}
	for _, mode := range []string{modeScaleThroughput, modeScaleLatency} {
		stamped = mode == modeScaleLatency
		for _, c := range cases {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				var reported []peerResult
				p := &peer{
					spec: peerSpec{Mode: mode, Role: "reader", Size: size, Writers: 2, Count: 1 << 20,
						Deadline: time.Now().Add(time.Minute)},
					pat:    pat,
					rcv:    &fakeReceiver{recs: c.recs()},
					report: func(r peerResult) { reported = append(reported, r) },
				}
				err := p.readScaled()
				if c.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					if len(reported) != 1 || reported[0].Phases[0].Records != 5 {
						t.Fatalf("reported %+v, want one phase of 5 records (6 verified, the first starts the clock)", reported)
					}
					if mode == modeScaleLatency && reported[0].Hist == nil {
						t.Fatal("no latency histogram")
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one mentioning %q", err, c.want)
				}
			})
		}
	}
}

// TestMonoNow checks that the clock written into records is
// CLOCK_MONOTONIC, which every process shares.
func TestMonoNow(t *testing.T) {
	a := monoNow()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	b := monoNow()
	if c := ts.Nano(); c < a-int64(time.Millisecond) || c > b+int64(time.Millisecond) {
		t.Fatalf("clock_gettime says %d, monoNow %d then %d", c, a, b)
	}
}
