package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// settings are the measuring parameters shared by every cell of a run.
type settings struct {
	Warmup int           // phases discarded before measuring
	Reps   int           // measured phases (repetitions)
	Phase  time.Duration // minimum length of a phase
	// WarmPhase, when set, is the minimum length of a warm-up phase.
	WarmPhase time.Duration
	MinCount  int   // minimum records (round trips) in a phase
	Count     int   // exact count instead of timed phases (Go benchmarks)
	CPUs      []int // cores the peers are pinned to, round robin; nil: none
}

// cellTimeout bounds one cell: phases end after 20×Phase at the latest,
// so this is generous, and exists for hung peers.
func (s settings) cellTimeout() time.Duration {
	if s.Count > 0 {
		return 10 * time.Minute
	}
	return time.Duration(s.Warmup+s.Reps)*20*s.Phase + 20*time.Second
}

// harness runs cells: it creates a transport's channels, starts the two
// peers, drives them through the protocol and collects their reports.
type harness struct {
	env *Env
	set settings
	exe string
	// started and finished, when set, bracket the measured part of a cell
	// (Go benchmarks stop their timer outside it).
	started, finished func()
	// place, when set, keeps transfer and scaling cells in the run's band
	// of round trips: a cell waits for it once its peers are ready, and is
	// probed again after they exit.
	place *placeGate
}

// cellRun is what the two peers of one cell reported.
type cellRun struct {
	writer, reader peerResult
	// placeNs are the placement probes' round trips just before the cell
	// started and just after its peers exited, when the run gates cells.
	placeNs []int64
}

// merge adds the phases, CPU time and probes of another throughput cell
// of the same transport and size.
func (c *cellRun) merge(o cellRun) {
	c.reader.Phases = append(c.reader.Phases, o.reader.Phases...)
	for _, p := range []struct{ to, from *peerResult }{{&c.reader, &o.reader}, {&c.writer, &o.writer}} {
		p.to.CPUNs += p.from.CPUNs
		p.to.CPURecords += p.from.CPURecords
		p.to.Sent += p.from.Sent
	}
	c.placeNs = append(c.placeNs, o.placeNs...)
}

func newHarness(reg *registry, set settings) (*harness, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot re-execute myself as a peer: %w", err)
	}
	return &harness{env: newEnv(reg), set: set, exe: exe}, nil
}

// run measures one transport at one size in one mode.
func (h *harness) run(ctx context.Context, t Transport, size int, mode string) (run cellRun, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.set.cellTimeout())
	defer cancel()
	nch := 1
	if mode == modeLatency {
		nch = 2
	}
	var chans []*Channel
	defer func() {
		for _, c := range chans {
			if rerr := c.remove(); rerr != nil && err == nil {
				err = fmt.Errorf("%s: cleanup: %w", t.Name(), rerr)
			}
		}
	}()
	for range nch {
		c, err := t.Create(h.env, size)
		if err != nil {
			return run, fmt.Errorf("%s: %w", t.Name(), err)
		}
		chans = append(chans, c)
	}
	spec := peerSpec{
		Transport: t.Name(), Mode: mode, Size: size,
		Warmup: h.set.Warmup, Reps: h.set.Reps, Phase: h.set.Phase, MinCount: h.set.MinCount, Count: h.set.Count,
		WarmPhase: h.set.WarmPhase,
		Deadline:  time.Now().Add(h.set.cellTimeout()),
	}
	// Channel 0 runs writer→reader, channel 1 back; each peer inherits
	// the descriptors of its own ends, numbered from 3 in order.
	wspec, rspec := spec, spec
	wspec.Role, rspec.Role = "writer", "reader"
	var wfiles, rfiles []*os.File
	for i, c := range chans {
		ws, rs := c.Spec, c.Spec
		wf, rf := c.WriterFile, c.ReaderFile
		if i == 1 {
			wf, rf = rf, wf
		}
		if wf != nil {
			ws.FD = 3 + len(wfiles)
			wfiles = append(wfiles, wf)
		}
		if rf != nil {
			rs.FD = 3 + len(rfiles)
			rfiles = append(rfiles, rf)
		}
		wspec.Channels = append(wspec.Channels, ws)
		rspec.Channels = append(rspec.Channels, rs)
	}

	wspec.CPUs, rspec.CPUs = h.cpusFor(0), h.cpusFor(1)
	const writer, reader = 0, 1
	w, err := h.startGroup(ctx, []peerSpec{wspec, rspec}, [][]*os.File{wfiles, rfiles})
	defer w.kill()
	if err != nil {
		return run, err
	}
	if run.placeNs, err = h.placeProbe(ctx, run.placeNs, true); err != nil {
		return run, err
	}
	if h.started != nil {
		h.started()
	}
	w.sendAll("go")
	if mode == modeThroughput {
		if run.reader, err = w.result(reader); err != nil {
			return run, err
		}
		if h.finished != nil {
			h.finished()
		}
		w.peers[writer].send("stop")
		if run.writer, err = w.result(writer); err != nil {
			return run, err
		}
	} else {
		if run.writer, err = w.result(writer); err != nil {
			return run, err
		}
		if h.finished != nil {
			h.finished()
		}
		if run.reader, err = w.result(reader); err != nil {
			return run, err
		}
	}
	if err := checkPinned(w, run.writer, run.reader); err != nil {
		return run, err
	}
	if err := w.wait(); err != nil {
		return run, err
	}
	run.placeNs, err = h.placeProbe(ctx, run.placeNs, false)
	return run, err
}

// placeProbe appends a placement probe to probes when the run gates its
// cells; the probe before a cell (first) waits for the band.
func (h *harness) placeProbe(ctx context.Context, probes []int64, first bool) ([]int64, error) {
	if h.place == nil {
		return probes, nil
	}
	probe := h.place.probe
	if first {
		probe = func() (time.Duration, error) { return h.place.await(ctx) }
	}
	rtt, err := probe()
	if err != nil {
		return probes, err
	}
	return append(probes, int64(rtt)), nil
}

// inPlace says whether every probe around a cell found the round trip in
// the band (always, when the run does not gate).
func (h *harness) inPlace(probes []int64) bool {
	if h.place == nil {
		return true
	}
	for _, ns := range probes {
		if !h.place.rep.in(ns) {
			return false
		}
	}
	return true
}

// keep records in p the probes around the cells kept (a pair per cell,
// before and after: a gated throughput measurement is several cells),
// and counts each cell with a probe outside the band.
func (h *harness) keep(p *Placed, probes []int64) {
	p.PlacementNs = append(p.PlacementNs, probes...)
	for i := 0; i+1 < len(probes); i += 2 {
		if !h.inPlace(probes[i : i+2]) {
			p.OutsidePlacement = true
			h.place.rep.Outside++
		}
	}
}

// checkPinned checks that each pinned peer reported running on exactly
// the cores it was given.
func checkPinned(w *waiter, results ...peerResult) error {
	for i, r := range results {
		want := w.specs[i].CPUs
		if len(want) > 0 && !slices.Equal(r.Pinned, want) {
			return fmt.Errorf("%s peer: pinned to CPUs %v, its threads may run on %v", w.peers[i].role, want, r.Pinned)
		}
	}
	return nil
}

// cpusFor returns the cores peer number i is pinned to: the i-th of the
// run's list, round robin, or nil when the run pins nothing.
func (h *harness) cpusFor(i int) []int {
	if len(h.set.CPUs) == 0 {
		return nil
	}
	return []int{h.set.CPUs[i%len(h.set.CPUs)]}
}

// startGroup starts one peer per spec, each inheriting its files, and
// waits until every one has reported ready. On error the caller still
// calls kill.
func (h *harness) startGroup(ctx context.Context, specs []peerSpec, files [][]*os.File) (*waiter, error) {
	w := &waiter{ctx: ctx, ev: make(chan peerEvent, 4*len(specs)+8), specs: specs}
	w.peers = make([]*peerProc, len(specs))
	w.pending = make([][]string, len(specs))
	w.finished = make([]bool, len(specs))
	w.gone = make([]bool, len(specs))
	// The last peer first: the readers of a transfer are ready to read
	// before their writers start.
	for i := len(specs) - 1; i >= 0; i-- {
		p, err := h.start(ctx, i, specs[i], files[i], w.ev)
		if err != nil {
			return w, err
		}
		w.peers[i] = p
	}
	for i := len(specs) - 1; i >= 0; i-- {
		if _, err := w.expect(i, "ready"); err != nil {
			return w, err
		}
	}
	return w, nil
}

// peerProc is a running peer process.
type peerProc struct {
	who    int
	role   string
	cmd    *exec.Cmd
	stdin  *os.File
	stderr *bytes.Buffer
	done   chan struct{} // closed when the peer's output has ended
	once   sync.Once
}

type peerEvent struct {
	who  int
	line string
	eof  bool
}

func (h *harness) start(ctx context.Context, who int, spec peerSpec, files []*os.File, ev chan<- peerEvent) (*peerProc, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, h.exe)
	cmd.Env = append(os.Environ(), peerEnv+"="+string(b))
	cmd.ExtraFiles = files
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &peerProc{who: who, role: spec.Role, cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	if scaled(spec.Mode) {
		p.role = fmt.Sprintf("%s %d", spec.Role, spec.Index)
	}
	cmd.Stderr = &limitedWriter{buf: p.stderr, max: 4 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: starting the %s peer: %w", spec.Transport, spec.Role, err)
	}
	if f, ok := stdin.(*os.File); ok {
		p.stdin = f
	}
	h.env.reg.note(fmt.Sprintf("peer %d", cmd.Process.Pid))
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case ev <- peerEvent{who: who, line: sc.Text()}:
			case <-ctx.Done():
				return
			}
		}
		select {
		case ev <- peerEvent{who: who, eof: true}:
		case <-ctx.Done():
		}
	}()
	return p, nil
}

func (p *peerProc) send(line string) {
	if p.stdin != nil {
		fmt.Fprintln(p.stdin, line)
	}
}

// wait waits for the peer to exit after it reported.
func (p *peerProc) wait(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		if p.stdin != nil {
			p.stdin.Close()
		}
		err = p.cmd.Wait()
	})
	if err != nil {
		return fmt.Errorf("%s peer: %w%s", p.role, err, p.stderrTail())
	}
	return nil
}

// kill ends the peer if it still runs and reaps it.
func (p *peerProc) kill() {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		if p.stdin != nil {
			p.stdin.Close()
		}
		p.cmd.Wait()
	})
}

func (p *peerProc) stderrTail() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && len(s)-i < 300 && len(s) > 300 {
		s = s[i+1:]
	}
	return " (stderr: " + s + ")"
}

// waiter drives a group of peers: it reads their lines in order, and
// fails as soon as any peer reports an error or exits before it reported
// its result.
type waiter struct {
	ctx      context.Context
	ev       chan peerEvent
	specs    []peerSpec
	peers    []*peerProc
	pending  [][]string
	finished []bool
	gone     []bool
}

// sendAll sends line to every peer.
func (w *waiter) sendAll(line string) {
	for _, p := range w.peers {
		p.send(line)
	}
}

// wait waits for every peer to exit after it reported.
func (w *waiter) wait() error {
	for _, p := range w.peers {
		if err := p.wait(w.ctx); err != nil {
			return err
		}
	}
	return nil
}

// kill ends and reaps every peer still running.
func (w *waiter) kill() {
	for _, p := range w.peers {
		if p != nil {
			p.kill()
		}
	}
}

func (w *waiter) next(who int) (string, error) {
	for {
		if len(w.pending[who]) > 0 {
			l := w.pending[who][0]
			w.pending[who] = w.pending[who][1:]
			return l, nil
		}
		if w.gone[who] {
			return "", w.exitErr(who)
		}
		select {
		case <-w.ctx.Done():
			if errors.Is(w.ctx.Err(), context.DeadlineExceeded) {
				return "", fmt.Errorf("%s peer: no report in time", w.peers[who].role)
			}
			return "", w.ctx.Err()
		case e := <-w.ev:
			if e.eof {
				w.gone[e.who] = true
				if e.who != who && !w.finished[e.who] && len(w.pending[e.who]) == 0 {
					return "", w.exitErr(e.who)
				}
				continue
			}
			if e.who != who {
				// An early report from the other peer: an error ends the
				// cell now, anything else waits its turn.
				var r peerResult
				if json.Unmarshal([]byte(e.line), &r) == nil && r.Err != "" {
					return "", errors.New(r.Err)
				}
			}
			w.pending[e.who] = append(w.pending[e.who], e.line)
		}
	}
}

func (w *waiter) exitErr(who int) error {
	p := w.peers[who]
	p.kill()
	return fmt.Errorf("%s peer exited early (%v)%s", p.role, p.cmd.ProcessState, p.stderrTail())
}

func (w *waiter) expect(who int, want string) (string, error) {
	l, err := w.next(who)
	if err != nil {
		return "", err
	}
	if l != want {
		var r peerResult
		if json.Unmarshal([]byte(l), &r) == nil && r.Err != "" {
			return "", errors.New(r.Err)
		}
		return "", fmt.Errorf("%s peer said %q, want %q", w.peers[who].role, l, want)
	}
	return l, nil
}

func (w *waiter) result(who int) (peerResult, error) {
	var r peerResult
	l, err := w.next(who)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(l), &r); err != nil {
		return r, fmt.Errorf("%s peer said %q", w.peers[who].role, l)
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	w.finished[who] = true
	return r, nil
}

// limitedWriter keeps the first max bytes of a peer's standard error.
type limitedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
