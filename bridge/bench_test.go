package bridge_test

import (
	"context"
	"fmt"
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
//   - bridge: a writer fills ring A, an outbound bridge publishes its
//     records, an inbound bridge writes them into ring B and the
//     benchmark reads ring B; the time runs from the first write into A
//     to the last record read from B. Both bridges run in this process
//     (with the server and the rings' writer and reader), as the plain
//     pair does. JetStream adds the bridge's exactly-once work: the
//     spool copy before each publish, the journal notes around each
//     record written.
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
	rb, err := shmbuf.OpenRing(bb)
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	// The reader and the writer sleep rather than spin while they wait:
	// they share the cores with the bridges and the server.
	rd, err := rb.NewReader(shmbuf.ReaderOptions{Wait: shmbuf.WaitBlock})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	ra, err := shmbuf.OpenRing(a)
	if err != nil {
		b.Fatal(err)
	}
	defer ra.Close()
	w, err := ra.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	payload := make([]byte, size)
	n := b.N
	b.ResetTimer()
	go func() {
		for range n {
			w.Write(payload)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		rec, err := rd.Next(ctx)
		if err != nil {
			b.Fatalf("after %d of %d records: %v", i, n, err)
		}
		if len(rec) != size {
			b.Fatal("short record")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// benchHeader is a header of the length a bridge on this machine sends
// for a ring in /dev/shm.
func benchHeader() nats.Header {
	return nats.Header{
		bridge.HeaderRecord: {"9e3779b97f4a7c15 0 123456 9e3779b97f4a7c15 123456 benchhost posix:brt-12345-1-a 187b3c0e5f2a1d40"},
	}
}
