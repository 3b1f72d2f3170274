package bridge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/bridge"
)

// childEnv names the role a re-executed test binary plays: a bridge in a
// process of its own (for kill -9).
const childEnv = "SHMBUF_BRIDGE_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "bridge":
		os.Exit(childBridge())
	case "host":
		os.Exit(childHost())
	case "load":
		os.Exit(childLoad())
	}
	os.Exit(m.Run())
}

// long reports whether the long suite runs (SHMBUF_LONG=1).
func long() bool { return os.Getenv("SHMBUF_LONG") != "" }

// natsServer is an embedded server on 127.0.0.1 with JetStream storing
// in a directory of the test's, restartable on the same port.
type natsServer struct {
	t    testing.TB
	dir  string
	port int
	s    *server.Server
}

func startServer(t testing.TB) *natsServer {
	ns := &natsServer{t: t, dir: t.TempDir(), port: -1}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	var err error
	for try := 0; try < 50; try++ {
		ns.s, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: ns.port, JetStream: true,
			StoreDir: ns.dir, NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
		if err != nil {
			ns.t.Fatal(err)
		}
		ns.s.Start()
		if ns.s.ReadyForConnections(10 * time.Second) {
			ns.port = ns.s.Addr().(*net.TCPAddr).Port
			return
		}
		ns.s.Shutdown()
		time.Sleep(100 * time.Millisecond) // the port may still be held
	}
	ns.t.Fatal("nats server not ready")
}

func (ns *natsServer) stop() {
	if ns.s != nil {
		ns.s.Shutdown()
		ns.s.WaitForShutdown()
		ns.s = nil
	}
}

func (ns *natsServer) restart() { ns.stop(); ns.start() }

func (ns *natsServer) url(subject string) string {
	return fmt.Sprintf("nats://127.0.0.1:%d/%s", ns.port, subject)
}

var names atomic.Int64

// ringName returns a unique ring name; everything under that prefix in
// /dev/shm (the bridges' spools and journals too) goes at cleanup.
func ringName(t testing.TB, what string) string {
	n := fmt.Sprintf("brt-%d-%d-%s", os.Getpid(), names.Add(1), what)
	t.Cleanup(func() {
		m, _ := filepath.Glob("/dev/shm/" + n + "*")
		for _, p := range m {
			os.Remove(p)
		}
	})
	return n
}

func createRing(t testing.TB, name string, size int64) {
	r, err := shmbuf.CreateRing(name, shmbuf.RingOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// record returns record idx of writer w: 12 to max bytes, starting with
// w and idx, the rest derived from both, so that every byte is checked.
func record(buf []byte, w uint32, idx uint64, max int) []byte {
	rng := rand.New(rand.NewPCG(uint64(w), idx))
	n := 12 + rng.IntN(max-11)
	buf = append(buf[:0], make([]byte, n)...)
	binary.LittleEndian.PutUint32(buf, w)
	binary.LittleEndian.PutUint64(buf[4:], idx)
	for i := 12; i < n; i += 8 {
		var x [8]byte
		binary.LittleEndian.PutUint64(x[:], rng.Uint64())
		copy(buf[i:], x[:])
	}
	return buf
}

// load is what the tests send: writers × per records of up to max bytes.
type load struct {
	writers int
	per     uint64
	max     int
}

func (l load) total() uint64 { return uint64(l.writers) * l.per }

// produce writes the load into the ring, each writer on its own
// goroutine, and returns when all are written.
func produce(t testing.TB, ring string, l load) {
	r, err := shmbuf.OpenRing(ring)
	if err != nil {
		t.Error(err)
		return
	}
	defer r.Close()
	if err := writeLoad(context.Background(), r, l); err != nil {
		t.Error(err)
	}
}

// writeLoad writes the load into r, each writer on its own goroutine,
// and returns the first error once all have stopped.
func writeLoad(ctx context.Context, r *shmbuf.Ring, l load) error {
	var wg sync.WaitGroup
	errs := make(chan error, l.writers)
	for w := range l.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr, err := r.NewWriter(shmbuf.WriterOptions{})
			if err != nil {
				errs <- err
				return
			}
			defer wr.Close()
			var buf []byte
			for i := uint64(0); i < l.per; i++ {
				buf = record(buf, uint32(w), i, l.max)
				if _, err := wr.WriteContext(ctx, buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// collector reads ring B, checking every byte of every record and each
// writer's order: exact (each record once, none missing) or at most once
// (gaps allowed, no duplicates, nothing out of order).
type collector struct {
	mu       sync.Mutex
	next     map[uint32]uint64 // writer -> next index expected
	got      uint64
	problems []string
	done     chan struct{}
}

func collect(t testing.TB, ctx context.Context, ring string, l load, exact bool) *collector {
	r, err := shmbuf.OpenRing(ring)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{next: map[uint32]uint64{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer r.Close()
		defer rd.Close()
		var want []byte
		for {
			rec, err := rd.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, io.EOF) || errors.Is(err, shmbuf.ErrWriterLost) {
					time.Sleep(5 * time.Millisecond) // the inbound bridge restarts
					continue
				}
				c.problem("read: %v", err)
				return
			}
			if len(rec) < 12 {
				c.problem("record of %d bytes", len(rec))
				continue
			}
			w := binary.LittleEndian.Uint32(rec)
			idx := binary.LittleEndian.Uint64(rec[4:])
			want = record(want, w, idx, l.max)
			c.mu.Lock()
			switch {
			case int(w) >= l.writers || idx >= l.per:
				c.problemLocked("record of writer %d, index %d: out of range", w, idx)
			case !bytes.Equal(rec, want):
				c.problemLocked("record %d of writer %d: bytes differ", idx, w)
			case idx < c.next[w]:
				c.problemLocked("writer %d: record %d again or out of order (expected %d)", w, idx, c.next[w])
			case exact && idx != c.next[w]:
				c.problemLocked("writer %d: record %d where %d was expected", w, idx, c.next[w])
			default:
				c.next[w] = idx + 1
				c.got++
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) problem(f string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problemLocked(f, a...)
}

func (c *collector) problemLocked(f string, a ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(f, a...))
	}
}

func (c *collector) count() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

// wait waits until n records arrived or the time is up.
func (c *collector) wait(n uint64, d time.Duration) bool {
	end := time.Now().Add(d)
	for c.count() < n {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (c *collector) check(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		t.Error(p)
	}
}

// runBridge runs a bridge in this process until the test ends; the
// returned function stops it and returns its final stats line.
func runBridge(t testing.TB, cfg bridge.Config) func() map[string]any {
	stop, _ := runBridgeStats(t, cfg)
	return stop
}

// runBridgeStats is runBridge that also returns a function giving the
// bridge's latest periodic stats line (nil before the first).
func runBridgeStats(t testing.TB, cfg bridge.Config) (stop, latest func() map[string]any) {
	ctx, cancel := context.WithCancel(context.Background())
	var stats bytes.Buffer
	var mu sync.Mutex
	cfg.Stats = lockedWriter{&mu, &stats}
	if cfg.StatsEvery == 0 {
		cfg.StatsEvery = 20 * time.Millisecond
	}
	cfg.Log = testLog{t}
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, &cfg) }()
	last := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		lines := bytes.Split(bytes.TrimSpace(stats.Bytes()), []byte("\n"))
		var m map[string]any
		json.Unmarshal(lines[len(lines)-1], &m)
		return m
	}
	stopped := false
	var final map[string]any
	stop = func() map[string]any {
		if stopped {
			return final
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge %v: %v", cfg.Direction, err)
		}
		final = last()
		return final
	}
	t.Cleanup(func() { stop() })
	return stop, last
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s", bytes.TrimSpace(p))
	return len(p), nil
}

// endpoint parses a test URL.
func endpoint(t testing.TB, url string, publish bool) bridge.Endpoint {
	e, err := bridge.ParseEndpoint(url, publish)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// childConfig is what a child bridge runs.
type childConfig struct {
	Out                   bool
	Ring, URL             string
	Stream, Durable, Stat string
}

// childBridge runs a bridge until SIGTERM (or kill -9).
func childBridge() int {
	var cc childConfig
	if err := json.Unmarshal([]byte(os.Getenv("SHMBUF_BRIDGE_CONFIG")), &cc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := bridge.Config{Direction: bridge.Inbound, Ring: cc.Ring, Stream: cc.Stream, Durable: cc.Durable,
		Size: 1 << 20, Log: os.Stderr}
	if cc.Out {
		cfg.Direction = bridge.Outbound
	}
	var err error
	if cfg.NATS, err = bridge.ParseEndpoint(cc.URL, cc.Out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if cc.Stat != "" {
		f, err := os.Create(cc.Stat)
		if err != nil {
			return 1
		}
		defer f.Close()
		cfg.Stats = f
	}
	if err := bridge.Run(ctx, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
