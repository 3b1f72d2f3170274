package bridge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/bridge"
)

// hostConfig is what a "host" child runs: one side of the bridge and its
// ring in a mount namespace of its own with a private tmpfs on /dev/shm,
// so that the other host's segments do not exist for it.
type hostConfig struct {
	Send   bool   // host A: writers and the outbound bridge; else host B: the inbound bridge and a reader
	Ring   string // the ring's name on this host
	Marker string // a /dev/shm file of the parent's that must not be visible here
	URL    string
	Stream string
	// The load (load's fields are unexported, so they travel one by one).
	Writers   int
	Per       uint64
	MaxRecord int
}

func (hc hostConfig) load() load { return load{writers: hc.Writers, per: hc.Per, max: hc.MaxRecord} }

// needHostNamespaces skips (or fails under SHMBUF_REQUIRE=1) unless
// mount namespaces with a private /dev/shm can be made.
func needHostNamespaces(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "mount namespaces need root"
	} else if _, err := exec.LookPath("unshare"); err != nil {
		why = "unshare (util-linux) is not installed"
	}
	if why == "" {
		return
	}
	if os.Getenv("SHMBUF_REQUIRE") == "1" {
		t.Fatalf("%s, and SHMBUF_REQUIRE=1 requires every test to run", why)
	}
	t.Skip(why)
}

// startHost runs the test binary as a host: `unshare -m` with a private
// tmpfs mounted on /dev/shm, then the "host" role.
func startHost(t *testing.T, hc hostConfig, out io.Writer) *exec.Cmd {
	b, _ := json.Marshal(hc)
	script := `mount --make-rprivate / && mount -t tmpfs -o size=64m shmbuf-host /dev/shm && exec "$0" -test.run='^$'`
	cmd := exec.Command("unshare", "-m", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=host", "SHMBUF_BRIDGE_HOST="+string(b))
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestBridge_TwoHosts runs each side in its own mount namespace with a
// private tmpfs on /dev/shm: host A's writers and outbound bridge, host
// B's inbound bridge and reader. The only path between the two rings is
// the NATS server; with JetStream host B receives every record exactly
// once, every byte checked, in each writer's order.
func TestBridge_TwoHosts(t *testing.T) {
	needHostNamespaces(t)
	ns := startServer(t)
	l := load{writers: 2, per: 5000, max: 1024}
	if long() {
		l.per = 100000
	}
	name := fmt.Sprintf("brt-%d-host", os.Getpid())
	marker := ringName(t, "marker")
	if err := os.WriteFile(filepath.Join("/dev/shm", marker), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := ns.url("hosts.data")
	var bOut, aOut bytes.Buffer
	hostB := startHost(t, hostConfig{Ring: name, Marker: marker, URL: url, Stream: "HOSTS", Writers: l.writers, Per: l.per, MaxRecord: l.max}, &bOut)
	hostA := startHost(t, hostConfig{Send: true, Ring: name, Marker: marker, URL: url, Stream: "HOSTS", Writers: l.writers, Per: l.per, MaxRecord: l.max}, &aOut)

	bDone := make(chan error, 1)
	go func() { bDone <- hostB.Wait() }()
	select {
	case err := <-bDone:
		if err != nil {
			t.Errorf("host B: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("host B did not receive all %d records in 2 minutes", l.total())
		hostB.Process.Kill()
		<-bDone
	}
	hostA.Process.Signal(syscall.SIGTERM)
	if err := hostA.Wait(); err != nil {
		t.Errorf("host A: %v", err)
	}
	t.Logf("host A: %s", strings.TrimSpace(aOut.String()))
	t.Logf("host B: %s", strings.TrimSpace(bOut.String()))
	if want := fmt.Sprintf("received %d", l.total()); !strings.Contains(bOut.String(), want) {
		t.Errorf("host B said %q, want %q", strings.TrimSpace(bOut.String()), want)
	}
	// Neither host's ring, spool or journal reached the parent's /dev/shm.
	if m, _ := filepath.Glob("/dev/shm/" + name + "*"); len(m) != 0 {
		t.Errorf("host segments visible outside their namespaces: %v", m)
	}
}

// childHost is the "host" role (see hostConfig). It prints one line on
// stdout: what it sent or received.
func childHost() int {
	var hc hostConfig
	if err := json.Unmarshal([]byte(os.Getenv("SHMBUF_BRIDGE_HOST")), &hc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fail := func(f string, a ...any) int {
		fmt.Fprintf(os.Stderr, "host: "+f+"\n", a...)
		return 1
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", hc.Marker)); !errors.Is(err, os.ErrNotExist) {
		return fail("the parent's /dev/shm is visible (stat %s: %v): not a private tmpfs", hc.Marker, err)
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", hc.Ring)); !errors.Is(err, os.ErrNotExist) {
		return fail("ring %s exists before this host made it", hc.Ring)
	}
	r, err := shmbuf.CreateRing(hc.Ring, shmbuf.RingOptions{Size: 256 << 10})
	if err != nil {
		return fail("%v", err)
	}
	defer r.Close()
	defer os.Remove(filepath.Join("/dev/shm", hc.Ring))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := bridge.Config{Direction: bridge.Inbound, Ring: hc.Ring, Stream: hc.Stream, Log: os.Stderr}
	if hc.Send {
		cfg.Direction = bridge.Outbound
	}
	if cfg.NATS, err = bridge.ParseEndpoint(hc.URL, hc.Send); err != nil {
		return fail("%v", err)
	}
	bctx, bstop := context.WithCancel(ctx)
	bdone := make(chan error, 1)
	go func() { bdone <- bridge.Run(bctx, &cfg) }()
	defer func() {
		bstop()
		if err := <-bdone; err != nil {
			fmt.Fprintln(os.Stderr, "host: bridge:", err)
		}
	}()
	if hc.Send {
		return sendHost(ctx, r, hc.load())
	}
	return receiveHost(ctx, r, hc.load())
}

// sendHost writes the load, then keeps the bridge running until SIGTERM.
func sendHost(ctx context.Context, r *shmbuf.Ring, l load) int {
	if err := writeLoad(ctx, r, l); err != nil {
		fmt.Fprintln(os.Stderr, "host A:", err)
		return 1
	}
	fmt.Printf("sent %d\n", l.total())
	<-ctx.Done()
	return 0
}

// receiveHost reads until every record of the load arrived, each byte and
// each writer's order checked, and no record twice.
func receiveHost(ctx context.Context, r *shmbuf.Ring, l load) int {
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "host B:", err)
		return 1
	}
	defer rd.Close()
	next := make([]uint64, l.writers)
	var got uint64
	var want []byte
	for got < l.total() {
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) || errors.Is(err, shmbuf.ErrWriterLost) {
			continue // the inbound bridge's writer comes and goes
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "host B: after %d records: %v\n", got, err)
			return 1
		}
		if len(rec) < 12 {
			fmt.Fprintf(os.Stderr, "host B: record of %d bytes\n", len(rec))
			return 1
		}
		w := binary.LittleEndian.Uint32(rec)
		idx := binary.LittleEndian.Uint64(rec[4:])
		if int(w) >= l.writers || idx != next[w] {
			fmt.Fprintf(os.Stderr, "host B: writer %d record %d, want record %d\n", w, idx, next[min(int(w), l.writers-1)])
			return 1
		}
		if want = record(want, w, idx, l.max); !bytes.Equal(rec, want) {
			fmt.Fprintf(os.Stderr, "host B: writer %d record %d: bytes differ\n", w, idx)
			return 1
		}
		next[w]++
		got++
	}
	fmt.Printf("received %d\n", got)
	return 0
}
