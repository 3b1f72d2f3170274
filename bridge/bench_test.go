package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/bridge"
)

// BenchmarkBridge measures records/s and MB/s through the bridge beside
// a plain nats.go publisher and subscriber, one after the other in the
// same run and against a fresh embedded server each (loopback, JetStream
// on file storage), at 64 B and 64 KiB, for core NATS and JetStream:
//
//	go test -run '^$' -bench Bridge -benchtime 20000x ./bridge
//
// The rows:
//
//   - plain: a publisher and a subscriber on two connections, the
//     payload alone. Core: Publish, and an asynchronous Subscribe with
//     no pending limit. JetStream: PublishMsgAsync with a window of
//     min(1024, 8 MiB / size) messages into a stream with a two-minute
//     duplicate window, and a durable pull consumer (Consume, an
//     explicit Ack per message, the same window as MaxAckPending and
//     pull batch), the settings of the bridge's own publisher and
//     consumer.
//   - plain-headers: the same pair sending the header a bridge sends
//     (Shmbuf, of the same length) and, with JetStream, a unique
//     Nats-Msg-Id, so that the server does the same duplicate checks:
//     what the headers cost apart from the bridge's own work (in nats.go
//     each header is encoded and decoded through a map, per message).
//   - bridge: a process writes the records into ring A, an outbound
//     bridge publishes them, an inbound bridge writes them into ring B
//     and another process reads ring B; the time runs from the writer's
//     start to the last record read from B. Both bridges run in this
//     process with the server, as the plain pair does. JetStream adds
//     the bridge's exactly-once work: the spool copy before each
//     publish, the journal notes around each record written.
func BenchmarkBridge(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		for _, mode := range []string{"core", "jetstream"} {
			for _, who := range []string{"plain", "plain-headers", "bridge"} {
				b.Run(fmt.Sprintf("%s/%s/%d", mode, who, size), func(b *testing.B) {
					ns := startServer(b)
					b.SetBytes(int64(size))
					if who != "bridge" {
						benchPlain(b, ns, mode == "jetstream", size, who == "plain-headers")
					} else {
						benchBridge(b, ns, mode == "jetstream", size)
					}
				})
			}
		}
	}
}

// benchWindow is how many JetStream messages may be unacknowledged, for
// the plain pair and the bridges alike.
func benchWindow(size int) int { return min(1024, 8<<20/size) }

func benchPlain(b *testing.B, ns *natsServer, js bool, size int, headers bool) {
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", ns.port))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	sc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", ns.port))
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	payload := make([]byte, size)
	n := b.N
	var got atomic.Int64
	done := make(chan struct{})
	count := func(m []byte) {
		if len(m) != size {
			b.Error("short message")
		}
		if got.Add(1) == int64(n) {
			close(done)
		}
	}
	msg := &nats.Msg{Subject: "plain", Data: payload}
	if headers {
		msg.Header = benchHeader()
	}
	if !js {
		sub, err := sc.Subscribe("plain", func(m *nats.Msg) { count(m.Data) })
		if err != nil {
			b.Fatal(err)
		}
		sub.SetPendingLimits(-1, -1)
		sc.Flush()
		b.ResetTimer()
		for range n {
			nc.PublishMsg(msg)
		}
		nc.Flush()
	} else {
		window := benchWindow(size)
		pj, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		_, err = pj.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain"},
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		// The consumer on the subscriber's connection, as the inbound
		// bridge has its own.
		sj, err := jetstream.New(sc)
		if err != nil {
			b.Fatal(err)
		}
		sst, err := sj.Stream(ctx, "PLAIN")
		if err != nil {
			b.Fatal(err)
		}
		cons, err := sst.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "plain", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: window})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) { count(m.Data()); m.Ack() }, jetstream.PullMaxMessages(window))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		b.ResetTimer()
		var id []byte
		for i := range n {
			if headers {
				id = strconv.AppendUint(append(id[:0], "9e3779b97f4a7c15-"...), uint64(i), 16)
				msg.Header[nats.MsgIdHdr] = []string{string(id)}
			}
			if _, err := pj.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("received %d of %d", got.Load(), n)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func benchBridge(b *testing.B, ns *natsServer, js bool, size int) {
	a, bb := ringName(b, "a"), ringName(b, "b")
	createRing(b, a, 8<<20)
	createRing(b, bb, 8<<20)
	stream := ""
	if js {
		stream = "BENCH"
	}
	url := ns.url("bench")
	window := benchWindow(size)
	stopIn := runBridge(b, bridge.Config{Direction: bridge.Inbound, Ring: bb, NATS: endpoint(b, url, false), Stream: stream, MaxPending: window})
	defer stopIn()
	time.Sleep(100 * time.Millisecond)
	stopOut := runBridge(b, bridge.Config{Direction: bridge.Outbound, Ring: a, NATS: endpoint(b, url, true), Stream: stream, MaxPending: window})
	defer stopOut()
	// Ring A's writer and ring B's reader are processes of their own, as
	// producers and consumers are: in this one their waits (a futex
	// sleep is a system call that keeps its P until the runtime takes
	// it back) would take turns from the bridges and the server.
	reader := startLoad(b, loadConfig{Ring: bb, N: b.N, Size: size})
	writer := startLoad(b, loadConfig{Ring: a, Write: true, N: b.N, Size: size})
	b.ResetTimer()
	writer.stdin.Close() // go
	if err := reader.cmd.Wait(); err != nil {
		b.Fatalf("ring B's reader: %v", err)
	}
	b.StopTimer()
	if err := writer.cmd.Wait(); err != nil {
		b.Fatalf("ring A's writer: %v", err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// loadConfig is what a "load" child does: write N records of Size bytes
// into Ring once its stdin is closed, or read N records from it, checking
// their length. Either says "ready" on stdout once attached.
type loadConfig struct {
	Ring    string
	Write   bool
	N, Size int
}

type loadChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startLoad(b *testing.B, lc loadConfig) *loadChild {
	cfg, _ := json.Marshal(lc)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=load", "SHMBUF_BRIDGE_LOAD="+string(cfg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		b.Fatalf("load child: %q, %v", line, err)
	}
	return &loadChild{cmd: cmd, stdin: stdin}
}

// childLoad is the "load" role (see loadConfig).
func childLoad() int {
	var lc loadConfig
	if err := json.Unmarshal([]byte(os.Getenv("SHMBUF_BRIDGE_LOAD")), &lc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	r, err := shmbuf.OpenRing(lc.Ring)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	if lc.Write {
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer w.Close()
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		payload := make([]byte, lc.Size)
		for range lc.N {
			if _, err := w.Write(payload); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return 0
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rd.Close()
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := 0; i < lc.N; i++ {
		rec, err := rd.Next(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "after %d of %d records: %v\n", i, lc.N, err)
			return 1
		}
		if len(rec) != lc.Size {
			fmt.Fprintf(os.Stderr, "record of %d bytes, want %d\n", len(rec), lc.Size)
			return 1
		}
	}
	return 0
}

// benchHeader is a header of the length a bridge on this machine sends
// for a ring in /dev/shm.
func benchHeader() nats.Header {
	return nats.Header{
		bridge.HeaderRecord: {"9e3779b97f4a7c15 0 123456 9e3779b97f4a7c15 123456 benchhost posix:brt-12345-1-a 187b3c0e5f2a1d40"},
	}
}
