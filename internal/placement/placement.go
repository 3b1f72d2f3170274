// Package placement measures where the host runs two cores relative to
// each other: the round trip of a cache line between them, which on a
// virtual machine changes as the host moves the vCPUs (see
// internal/bench's gate, the one user besides the Go benchmarks).
package placement

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Ratio is how far from a typical round trip a probe may be and still be
// the same placement: the three of the project's VM (about 55, 135 and
// 600 ns) are 2.4× or more apart.
const Ratio = 1.6

// MostFrequent returns the round trip with the most probes within the
// band around it (the lower on a tie), refined to the median of those,
// and how many they are.
func MostFrequent(rtts []time.Duration) (time.Duration, int) {
	var best []time.Duration
	for _, c := range rtts {
		var near []time.Duration
		for _, r := range rtts {
			if Near(r, c) {
				near = append(near, r)
			}
		}
		if len(near) > len(best) || len(near) == len(best) && len(best) > 0 && c < Median(best) {
			best = near
		}
	}
	return Median(best), len(best)
}

// Near says whether round trip r is the same placement as typical.
func Near(r, typical time.Duration) bool {
	return float64(r) >= float64(typical)/Ratio && float64(r) <= float64(typical)*Ratio
}

// Median returns the middle of ds (the upper one of an even count).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// ParseBand parses a band of round trips: 90ns-350ns.
func ParseBand(s string) (lo, hi time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		if lo, err = time.ParseDuration(strings.TrimSpace(a)); err == nil {
			hi, err = time.ParseDuration(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo <= 0 || hi < lo {
		return 0, 0, errBand
	}
	return lo, hi, nil
}

// errBand is ParseBand's error; callers name the flag or variable.
var errBand = errors.New("not a band of round trips like 90ns-350ns")

// Available returns the cores this process may run on.
func Available() []int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// Concurrent says whether Probe can run: GOMAXPROCS is at least 2.
func Concurrent() bool { return runtime.GOMAXPROCS(0) >= 2 }

// Pair returns the two cores whose placement matters: the peers' cores
// when they are pinned (the first two of pinned), else both cores of a
// 2-core machine, where two busy peers can run nowhere else. ok is false
// when neither holds: unpinned peers on more cores may run anywhere, and
// a probe of two chosen cores would say nothing about them.
func Pair(pinned []int) (cpus [2]int, ok bool) {
	list := pinned
	if len(list) == 0 {
		if list = Available(); len(list) != 2 {
			return cpus, false
		}
	}
	if len(list) < 2 || list[0] == list[1] {
		return cpus, false
	}
	return [2]int{list[0], list[1]}, true
}

// Window is how long one probe bounces the line: long enough for a
// median over some windows of round trips, short enough to run between
// two measurements.
const Window = 2 * time.Millisecond

// awaitGap spaces Await's probes.
const awaitGap = 30 * time.Millisecond

// Await probes cores a and b every 30 ms until a probe finds a round trip
// within lo..hi, until has passed or ctx ends; it returns the last probe's
// round trip. It always probes at least once.
func Await(ctx context.Context, a, b int, lo, hi time.Duration, until time.Time) (time.Duration, error) {
	for {
		rtt, err := Probe(a, b, Window)
		if err != nil || rtt >= lo && rtt <= hi || !time.Now().Before(until) {
			return rtt, err
		}
		if err := sleep(ctx, awaitGap); err != nil {
			return rtt, err
		}
	}
}

// Sample probes cores a and b n times, gap apart.
func Sample(ctx context.Context, a, b, n int, gap time.Duration) ([]time.Duration, error) {
	var rtts []time.Duration
	for i := range n {
		if i > 0 {
			if err := sleep(ctx, gap); err != nil {
				return nil, err
			}
		}
		rtt, err := Probe(a, b, Window)
		if err != nil {
			return nil, err
		}
		rtts = append(rtts, rtt)
	}
	return rtts, nil
}

// sleep sleeps for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pingPong is the cache line a probe bounces, ping and pong each on a
// line of its own, so each round trip moves two lines between the cores.
type pingPong struct {
	_    [64]byte
	ping atomic.Int64
	_    [120]byte
	pong atomic.Int64
	_    [120]byte
}

// Probe returns the median round trip of a cache line between cores a
// and b, over windows of 128 round trips for about d. Each side runs on
// a thread of its own, pinned to its core while it probes; both threads
// have their CPU masks back before Probe returns. The two must run at
// once: with GOMAXPROCS 1 each round trip would wait for a preemption,
// and Probe refuses (Concurrent says whether it can run).
func Probe(a, b int, d time.Duration) (time.Duration, error) {
	if !Concurrent() {
		return 0, errors.New("placement probe: GOMAXPROCS is 1, and the probe's two threads must run at once")
	}
	pp := new(pingPong)
	var wg sync.WaitGroup
	defer wg.Wait()
	echoReady := make(chan error, 1)
	wg.Go(func() {
		unpin, err := pinThread(b)
		defer unpin()
		if err != nil {
			echoReady <- err
			return
		}
		echoReady <- nil
		// Partner: the pinger's ping.Store; a negative ping ends the echo.
		for seen := int64(0); ; {
			v := pp.ping.Load()
			if v < 0 {
				return
			}
			if v != seen {
				seen = v
				pp.pong.Store(v) // Partner: the pinger's pong.Load.
			}
		}
	})
	if err := <-echoReady; err != nil {
		return 0, fmt.Errorf("placement probe: pin to CPU %d: %w", b, err)
	}
	var rtt time.Duration
	var err error
	wg.Go(func() {
		defer pp.ping.Store(-1)
		unpin, perr := pinThread(a)
		defer unpin()
		if perr != nil {
			err = fmt.Errorf("placement probe: pin to CPU %d: %w", a, perr)
			return
		}
		const n = 128
		var windows []time.Duration
		end := time.Now().Add(d)
		for i := int64(0); len(windows) == 0 || time.Now().Before(end); {
			t0 := time.Now()
			for range n {
				i++
				pp.ping.Store(i)
				for pp.pong.Load() != i {
				}
			}
			windows = append(windows, time.Since(t0)/n)
		}
		rtt = Median(windows)
	})
	wg.Wait()
	return rtt, err
}

// pinThread locks the calling goroutine to its thread and restricts the
// thread to core c; unpin gives the thread its CPU mask back and unlocks
// it. When the mask cannot be restored the goroutine stays locked, so the
// runtime ends the thread with it rather than reuse a pinned thread.
func pinThread(c int) (unpin func(), err error) {
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return func() {}, err
	}
	var set unix.CPUSet
	set.Set(c)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return runtime.UnlockOSThread, err
	}
	return func() {
		if unix.SchedSetaffinity(0, &old) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}
