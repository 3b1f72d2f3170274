package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Placement. On a virtual machine the host decides where the vCPUs run,
// and it moves them. On the 2-vCPU VM this project is measured on, a
// cache line's round trip between the two vCPUs is about 55 ns (the two
// hyperthreads of one core), 135 ns (two cores sharing a cache) or 600 ns
// (no shared cache), and the host switches between these every second or
// so. Records cross between the peers as cache lines, so the ring's
// figures follow the placement: 64 KiB records at about 260k, 390k and
// 60k records/s in those three (BENCHMARKS.md). Two runs, or two rows of
// one run, compare only if they were measured in the same placement.
//
// So a run measures every transfer cell inside one placement: a band of
// round trips, either given (--placement 90ns-350ns) or learnt as the one
// the host usually gives (calibrate: the most frequent round trip among
// a few dozen probes, ±1.6×). Before a cell it waits until a probe finds
// the band, and it measures the cell again when the probe after it finds
// another one. A probe needs both cores, so it runs only between cells,
// while the peers are idle.

// Calibration and gate parameters: a probe bounces a cache line for
// probeTime; calibration takes calibrateProbes probes calibrateGap apart;
// the gate probes every gateGap for at most gateWait before giving up on
// a cell, and for at most runWait over the whole run; a cell is measured
// at most cellTries times.
const (
	probeTime       = 2 * time.Millisecond
	calibrateProbes = 40
	calibrateGap    = 100 * time.Millisecond
	gateGap         = 30 * time.Millisecond
	gateWait        = 3 * time.Second
	cellWait        = time.Second
	cellTries       = 3
	// bandRatio is how far from the usual round trip a probe may be and
	// still be the same placement: the VM's three are 2.4× or more apart.
	bandRatio = 1.6
)

// PlacementReport is the band of round trips the run measured its cells
// in and how it kept to it; it goes into the JSON.
type PlacementReport struct {
	// CPUs are the two cores probed: the peers' cores.
	CPUs [2]int `json:"cpus"`
	// BandNs is the band of round trips; Given is set when --placement
	// gave it, else it is the usual one: Usual of the calibration probes
	// (CalibrationNs) lay within 1.6× of UsualNs.
	BandNs        [2]int64 `json:"band_ns"`
	Given         bool     `json:"given,omitempty"`
	UsualNs       int64    `json:"usual_ns,omitempty"`
	Usual         int      `json:"usual,omitempty"`
	CalibrationNs []int64  `json:"calibration_ns,omitempty"`
	// WaitedNs is the time spent waiting for the band, Repeated the cells
	// measured again because a probe after them was outside it, Outside
	// the cells kept although a probe around them was outside it (their
	// rows say so).
	WaitedNs int64 `json:"waited_ns"`
	Repeated int   `json:"repeated"`
	Outside  int   `json:"outside"`
}

// placement keeps a run's cells in one band of round trips.
type placement struct {
	rep    PlacementReport
	waited time.Duration
	budget time.Duration // of waiting, for the whole run
}

// placementCPUs returns the two cores whose placement matters: the
// peers' cores when pinned, else both cores of a 2-core machine (where
// the two peers can run nowhere else). ok is false when neither holds:
// unpinned peers on more cores may run anywhere, and a probe of two
// chosen cores would say nothing about them.
func placementCPUs(pinned []int) (cpus [2]int, ok bool) {
	list := pinned
	if len(list) == 0 {
		list = availableCPUs()
		if len(list) != 2 {
			return cpus, false
		}
	}
	if len(list) < 2 || list[0] == list[1] {
		return cpus, false
	}
	return [2]int{list[0], list[1]}, true
}

// calibrate probes the placement calibrateProbes times, gap apart, and
// returns the gate for the band around the most frequent round trip.
func calibrate(ctx context.Context, cpus [2]int, gap time.Duration) (*placement, error) {
	p := &placement{rep: PlacementReport{CPUs: cpus}}
	var rtts []time.Duration
	for i := range calibrateProbes {
		if i > 0 && sleepCtx(ctx, gap) != nil {
			return nil, ctx.Err()
		}
		rtt, err := probeRTT(cpus[0], cpus[1], probeTime)
		if err != nil {
			return nil, err
		}
		rtts = append(rtts, rtt)
		p.rep.CalibrationNs = append(p.rep.CalibrationNs, int64(rtt))
	}
	usual, n := mostFrequent(rtts)
	p.rep.UsualNs, p.rep.Usual = int64(usual), n
	p.rep.BandNs = [2]int64{int64(float64(usual) / bandRatio), int64(float64(usual) * bandRatio)}
	return p, nil
}

// mostFrequent returns the round trip with the most probes within the
// band around it (the lower on a tie), refined to the median of those,
// and how many they are.
func mostFrequent(rtts []time.Duration) (time.Duration, int) {
	var best []time.Duration
	for _, c := range rtts {
		var near []time.Duration
		for _, r := range rtts {
			if inBand(r, c) {
				near = append(near, r)
			}
		}
		if len(near) > len(best) || len(near) == len(best) && len(best) > 0 && c < median(best) {
			best = near
		}
	}
	return median(best), len(best)
}

// inBand says whether round trip r is the same placement as usual.
func inBand(r, usual time.Duration) bool {
	return float64(r) >= float64(usual)/bandRatio && float64(r) <= float64(usual)*bandRatio
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// await returns once a probe finds the usual placement, or when it has
// waited gateWait for this cell or runWait over the run; it returns the
// last probe's round trip.
func (p *placement) await(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	defer func() { p.waited += time.Since(start) }()
	for {
		rtt, err := p.probe()
		if err != nil || p.usual(rtt) {
			return rtt, err
		}
		if time.Since(start) >= gateWait || p.waited+time.Since(start) >= p.budget {
			return rtt, nil
		}
		if err := sleepCtx(ctx, gateGap); err != nil {
			return rtt, err
		}
	}
}

// usual says whether a probe's round trip is in the run's band.
func (p *placement) usual(rtt time.Duration) bool {
	return int64(rtt) >= p.rep.BandNs[0] && int64(rtt) <= p.rep.BandNs[1]
}

// parseBand parses a band of round trips: 90ns-350ns.
func parseBand(s string) (lo, hi time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		if lo, err = time.ParseDuration(strings.TrimSpace(a)); err == nil {
			hi, err = time.ParseDuration(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo <= 0 || hi < lo {
		return 0, 0, fmt.Errorf("--placement %q: use %s, %s or a band of round trips like 90ns-350ns", s, PlacementUsual, PlacementAny)
	}
	return lo, hi, nil
}

func (p *placement) probe() (time.Duration, error) {
	return probeRTT(p.rep.CPUs[0], p.rep.CPUs[1], probeTime)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
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

// probeRTT returns the median round trip of a cache line between cores a
// and b, over windows of 128 round trips for about d. Each side runs on
// a thread of its own, pinned to its core while it probes; both threads
// have their CPU masks back before probeRTT returns.
func probeRTT(a, b int, d time.Duration) (time.Duration, error) {
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
		rtt = median(windows)
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
