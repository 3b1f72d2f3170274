package placement

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmbuf/shmbuf/internal/testenv"
)

// twoCPUs returns two cores this process may run on, or skips.
func twoCPUs(t *testing.T) [2]int {
	t.Helper()
	cpus := Available()
	if len(cpus) < 2 {
		testenv.Missing(t, "a second CPU")
	}
	return [2]int{cpus[0], cpus[1]}
}

// threadIDs lists this process's threads.
func threadIDs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// TestProbe_MeasuresAndUnpins probes two real cores and checks the
// figure is plausible and that no thread of the process is left pinned:
// the probe's threads must end with it.
func TestProbe_MeasuresAndUnpins(t *testing.T) {
	cpus := twoCPUs(t)
	all := Available()
	for range 3 {
		rtt, err := Probe(cpus[0], cpus[1], time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		// A cache line's round trip takes tens to hundreds of ns; a
		// loaded machine may preempt the echo, hence the loose bound.
		if rtt <= 0 || rtt > 100*time.Microsecond {
			t.Errorf("round trip %v", rtt)
		}
	}
	for _, tid := range threadIDs(t) {
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) != nil {
			continue // the thread ended meanwhile
		}
		if set.Count() != len(all) {
			t.Errorf("thread %d may run on %d CPUs after the probe, the process on %d", tid, set.Count(), len(all))
		}
	}
}

// TestProbe_BadCPU checks that a core the process may not use is an
// error, not a hang: the side that could pin itself must be told to stop.
func TestProbe_BadCPU(t *testing.T) {
	cpus := twoCPUs(t)
	for _, pair := range [][2]int{{cpus[0], 4095}, {4095, cpus[1]}} {
		if _, err := Probe(pair[0], pair[1], time.Millisecond); err == nil || !strings.Contains(err.Error(), "pin to CPU 4095") {
			t.Errorf("probe %v: %v, want an error naming CPU 4095", pair, err)
		}
	}
}

func TestMostFrequent(t *testing.T) {
	ns := func(xs ...int) []time.Duration {
		d := make([]time.Duration, len(xs))
		for i, x := range xs {
			d[i] = time.Duration(x)
		}
		return d
	}
	cases := []struct {
		rtts []time.Duration
		want time.Duration
		n    int
	}{
		// The VM's three placements: the shared cache is the most frequent.
		{ns(130, 590, 54, 135, 120, 600, 140, 55, 128), 130, 5},
		// Far is the most frequent.
		{ns(590, 600, 610, 130, 135), 600, 3},
		// A tie goes to the faster placement.
		{ns(600, 610, 130, 135), 135, 2},
		{ns(77), 77, 1},
	}
	for _, c := range cases {
		got, n := MostFrequent(c.rtts)
		if got != c.want || n != c.n {
			t.Errorf("MostFrequent(%v) = %v, %d; want %v, %d", c.rtts, got, n, c.want, c.n)
		}
	}
}

func TestParseBand(t *testing.T) {
	lo, hi, err := ParseBand("90ns-350ns")
	if err != nil || lo != 90 || hi != 350 {
		t.Errorf("90ns-350ns: %v %v %v", lo, hi, err)
	}
	if lo, hi, err = ParseBand("1us - 2us"); err != nil || lo != time.Microsecond || hi != 2*time.Microsecond {
		t.Errorf("1us - 2us: %v %v %v", lo, hi, err)
	}
	for _, bad := range []string{"", "90ns", "90-350", "350ns-90ns", "0s-1s", "-1ns-5ns", "a-b"} {
		if _, _, err := ParseBand(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestPair: pinned cores are the pair; unpinned, only a 2-core machine
// has one.
func TestPair(t *testing.T) {
	if got, ok := Pair([]int{3, 5, 7}); !ok || got != [2]int{3, 5} {
		t.Errorf("pinned 3,5,7: %v %v", got, ok)
	}
	if _, ok := Pair([]int{2, 2}); ok {
		t.Error("one core twice is a pair")
	}
	got, ok := Pair(nil)
	if avail := Available(); ok != (len(avail) == 2) || ok && got != [2]int{avail[0], avail[1]} {
		t.Errorf("unpinned on %d cores: %v %v", len(Available()), got, ok)
	}
}

// TestProbe_OneProc: with GOMAXPROCS 1 the two threads cannot run at
// once, and Probe says so at once instead of measuring preemptions.
func TestProbe_OneProc(t *testing.T) {
	cpus := twoCPUs(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	start := time.Now()
	if _, err := Probe(cpus[0], cpus[1], time.Millisecond); err == nil || !strings.Contains(err.Error(), "GOMAXPROCS is 1") {
		t.Errorf("Probe with GOMAXPROCS 1: %v", err)
	}
	if Concurrent() {
		t.Error("Concurrent with GOMAXPROCS 1")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}
