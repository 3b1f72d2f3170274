package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// peerEnv carries a peerSpec (JSON) to a re-executed binary; its presence
// is what makes RunPeerIfRequested take over the process.
const peerEnv = "SHMBUF_BENCH_PEER"

// Modes of a measurement: a transfer's two, and the scaling
// measurement's two, whose peers are many.
const (
	modeThroughput      = "throughput"
	modeLatency         = "latency"
	modeScaleThroughput = "scale-throughput"
	modeScaleLatency    = "scale-latency"
)

// scaled says whether mode is one of the scaling measurement's.
func scaled(mode string) bool { return mode == modeScaleThroughput || mode == modeScaleLatency }

// peerSpec is everything a peer needs to play its role.
type peerSpec struct {
	Transport string `json:"transport"`
	Role      string `json:"role"` // "writer" or "reader"
	Mode      string `json:"mode"`
	Size      int    `json:"size"`
	// Channels of a transfer: [0] writer→reader, [1] reader→writer
	// (latency only). Of a scaling peer: every channel it writes each
	// record to, or reads from.
	Channels []ChannelSpec `json:"channels"`
	// Index numbers the writers (and readers) of a scaling measurement;
	// Writers is how many writers its readers hear from; PaceNs is a
	// scale-latency writer's mean interval between records.
	Index    int           `json:"index,omitempty"`
	Writers  int           `json:"writers,omitempty"`
	PaceNs   int64         `json:"pace_ns,omitempty"`
	Warmup   int           `json:"warmup"`
	Reps     int           `json:"reps"`
	Phase    time.Duration `json:"phase"`
	MinCount int           `json:"min_count"`
	// WarmPhase, when set, is the length of a warm-up phase instead of
	// Phase (a gated run's one-repetition cells warm up briefly).
	WarmPhase time.Duration `json:"warm_phase,omitempty"`
	// Count, when positive, replaces the timed phases by exactly Count
	// records (throughput) or round trips (latency): Go benchmarks use it
	// for b.N.
	Count    int       `json:"count,omitempty"`
	Deadline time.Time `json:"deadline"`
	// CPUs, when set, are the cores the peer pins itself to before it
	// opens anything.
	CPUs []int `json:"cpus,omitempty"`
}

// peerResult is what a peer reports on its standard output, one JSON line.
type peerResult struct {
	Err string `json:"err,omitempty"`
	// Phases are the reader's measured throughput phases.
	Phases []phaseResult `json:"phases,omitempty"`
	// Sent is how many records the writer sent (the end marker excluded).
	Sent uint64 `json:"sent,omitempty"`
	// CPUNs is this process's user+system time (getrusage RUSAGE_SELF,
	// every thread) over the window that covers CPURecords records.
	CPUNs      int64  `json:"cpu_ns"`
	CPURecords uint64 `json:"cpu_records"`
	// Latency (the writer in latency mode): one-way = round trip / 2.
	Latency *latencyResult `json:"latency,omitempty"`
	// Pinned is the union of the cores its threads may run on, when the
	// peer was pinned (read when it reports, so it covers the threads the
	// runtime started after pinning).
	Pinned []int `json:"pinned,omitempty"`
	// Hist is a scale-latency reader's histogram of one-way latencies.
	Hist *hdrhistogram.Snapshot `json:"hist,omitempty"`
}

type phaseResult struct {
	Records uint64 `json:"records"`
	Lost    uint64 `json:"lost"`
	Nanos   int64  `json:"ns"`
}

// RunPeerIfRequested makes this process a benchmark peer if it was
// started as one (the coordinator re-executes os.Executable() with the
// SHMBUF_BENCH_PEER environment variable set): it plays the role and
// exits. Otherwise it returns at once. Call it first thing in main, and in
// TestMain of any test binary that runs benchmarks.
func RunPeerIfRequested() {
	v, ok := os.LookupEnv(peerEnv)
	if !ok {
		return
	}
	os.Exit(runPeer(v, os.Stdin, os.Stdout))
}

func runPeer(specJSON string, in io.Reader, out io.Writer) int {
	report := func(r peerResult) {
		b, _ := json.Marshal(r)
		fmt.Fprintf(out, "%s\n", b)
	}
	fail := func(err error) int {
		report(peerResult{Err: err.Error()})
		return 1
	}
	var spec peerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fail(fmt.Errorf("bad peer spec: %w", err))
	}
	t, err := Lookup(spec.Transport)
	if err != nil {
		return fail(err)
	}
	// Every wait is bounded: past its deadline the peer reports and exits
	// whatever it is blocked in.
	time.AfterFunc(time.Until(spec.Deadline), func() {
		report(peerResult{Err: fmt.Sprintf("%s %s: deadline passed", spec.Transport, spec.Role)})
		os.Exit(3)
	})
	start := make(chan struct{})
	var stop, done atomic.Bool
	go func() {
		// The coordinator says "go" and, to a throughput writer, "stop".
		// End of input before the result means it is gone, and so must
		// we be; after the result it only means it stopped listening.
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			switch sc.Text() {
			case "go":
				close(start)
			case "stop":
				stop.Store(true)
			}
		}
		if !done.Load() {
			os.Exit(4)
		}
	}()

	if len(spec.CPUs) > 0 {
		if err := pinProcess(spec.CPUs); err != nil {
			return fail(fmt.Errorf("%s %s: pin to CPUs %v: %w", spec.Transport, spec.Role, spec.CPUs, err))
		}
	}
	p := &peer{spec: spec, t: t, pat: newPattern(spec.Size), stop: &stop}
	p.report = func(r peerResult) {
		done.Store(true)
		if len(spec.CPUs) > 0 {
			r.Pinned = threadsAffinity()
		}
		report(r)
	}
	if err := p.open(); err != nil {
		return fail(fmt.Errorf("%s %s: %w", spec.Transport, spec.Role, err))
	}
	fmt.Fprintln(out, "ready")
	<-start
	res, err := p.run()
	if err != nil {
		return fail(fmt.Errorf("%s %s, %s records: %w", spec.Transport, spec.Role, sizeLabel(spec.Size), err))
	}
	if res != nil {
		p.report(*res)
	}
	if err := p.close(); err != nil {
		return fail(err)
	}
	return 0
}

// peer is one side of a measurement.
type peer struct {
	spec   peerSpec
	t      Transport
	pat    *pattern
	report func(peerResult)
	stop   *atomic.Bool

	snd Sender   // writer: channel 0; reader: channel 1 (latency)
	rcv Receiver // reader: channel 0; writer: channel 1 (latency)
	// snds are a scaling writer's senders, one per channel.
	snds []Sender
}

// open opens the peer's ends, channel 0 first on both sides, so peers
// whose opens wait for each other (FIFOs) meet.
func (p *peer) open() error {
	s := p.spec
	if scaled(s.Mode) {
		return p.openScaled()
	}
	var err error
	writer := s.Role == "writer"
	if writer {
		p.snd, err = p.t.Sender(s.Channels[0], s.Size, s.Deadline)
	} else {
		p.rcv, err = p.t.Receiver(s.Channels[0], s.Size, s.Deadline)
	}
	if err != nil || s.Mode != modeLatency {
		return err
	}
	if len(s.Channels) < 2 {
		return fmt.Errorf("latency needs two channels")
	}
	if writer {
		p.rcv, err = p.t.Receiver(s.Channels[1], s.Size, s.Deadline)
	} else {
		p.snd, err = p.t.Sender(s.Channels[1], s.Size, s.Deadline)
	}
	return err
}

func (p *peer) close() error {
	var errs []error
	for _, s := range append(p.snds, p.snd) {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if p.rcv != nil {
		errs = append(errs, p.rcv.Close())
	}
	return errors.Join(errs...)
}

func (p *peer) run() (*peerResult, error) {
	switch {
	case scaled(p.spec.Mode) && p.spec.Role == "writer":
		return p.writeScaled()
	case scaled(p.spec.Mode):
		return nil, p.readScaled()
	case p.spec.Mode == modeThroughput && p.spec.Role == "writer":
		return p.writeFlatOut()
	case p.spec.Mode == modeThroughput:
		return nil, p.readPhases()
	case p.spec.Role == "writer":
		return p.ping()
	default:
		return p.pong()
	}
}

// sendNow sends rec and, from a batching sender, everything before it.
func (p *peer) sendNow(rec []byte) error {
	if err := p.snd.Send(rec); err != nil {
		return err
	}
	return flush(p.snd)
}

// cpuNow is this process's user+system time so far, all threads.
func cpuNow() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
