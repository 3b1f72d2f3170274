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

// BenchmarkBridge measures records/s and MB/s through the bridge (ring A
// -> bridge -> NATS -> bridge -> ring B, loopback) beside a plain nats.go
// publisher and subscriber in the same run, at 64 B and 64 KiB, for core
// NATS and JetStream. "plain-headers" is the plain pair sending the same
// two headers a bridge sends (of the same length), which shows what the
// headers cost apart from the bridge's own work:
//
//	go test -run '^$' -bench Bridge -benchtime 20000x ./bridge
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
	if !js {
		sub, err := sc.Subscribe("plain", func(m *nats.Msg) { count(m.Data) })
		if err != nil {
			b.Fatal(err)
		}
		sub.SetPendingLimits(-1, -1)
		sc.Flush()
		msg := &nats.Msg{Subject: "plain", Data: payload}
		if headers {
			msg.Header = benchHeader()
		}
		b.ResetTimer()
		for range n {
			nc.PublishMsg(msg)
		}
		nc.Flush()
	} else {
		// As many bytes in flight as the bridge's spool allows (8 MiB).
		pj, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(min(1024, 8<<20/size)))
		sj, _ := jetstream.New(sc)
		ctx := context.Background()
		st, err := pj.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain"}, Storage: jetstream.FileStorage})
		if err != nil {
			b.Fatal(err)
		}
		cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "plain", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1024})
		if err != nil {
			b.Fatal(err)
		}
		_ = sj
		cc, err := cons.Consume(func(m jetstream.Msg) { count(m.Data()); m.Ack() }, jetstream.PullMaxMessages(1024))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		b.ResetTimer()
		msg := &nats.Msg{Subject: "plain", Data: payload}
		if headers {
			msg.Header = benchHeader()
		}
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
	stopIn := runBridge(b, bridge.Config{Direction: bridge.Inbound, Ring: bb, NATS: endpoint(b, url, false), Stream: stream})
	defer stopIn()
	time.Sleep(100 * time.Millisecond)
	stopOut := runBridge(b, bridge.Config{Direction: bridge.Outbound, Ring: a, NATS: endpoint(b, url, true), Stream: stream})
	defer stopOut()
	rb, err := shmbuf.OpenRing(bb)
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
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
	w, err := ra.NewWriter(shmbuf.WriterOptions{})
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
