package bridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/bridge"
)

// roundTripLoad is 20,000 records of random sizes (up to 2 KiB) from two
// writers; a million under SHMBUF_LONG.
func roundTripLoad() load {
	if long() {
		return load{writers: 2, per: 500000, max: 2048}
	}
	return load{writers: 2, per: 10000, max: 2048}
}

// TestBridge_RoundTrip sends ring A -> bridge -> NATS -> bridge -> ring B
// and checks every byte of every record and each writer's order: with
// JetStream every record arrives exactly once; with core NATS what is
// missing equals what the receiving bridge reports missing.
func TestBridge_RoundTrip(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			ns := startServer(t)
			l := roundTripLoad()
			a, b := ringName(t, "a"), ringName(t, "b")
			createRing(t, a, 1<<20)
			createRing(t, b, 1<<20)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			col := collect(t, ctx, b, l, mode == "jetstream")
			stream := ""
			if mode == "jetstream" {
				stream = "RT"
			}
			stopIn, inStats := runBridgeStats(t, bridge.Config{Direction: bridge.Inbound, Ring: b, NATS: endpoint(t, ns.url("rt.data"), false), Stream: stream})
			if stream == "" {
				time.Sleep(200 * time.Millisecond) // subscribed before the first message
			}
			stopOut := runBridge(t, bridge.Config{Direction: bridge.Outbound, Ring: a, NATS: endpoint(t, ns.url("rt.data"), true), Stream: stream})
			produce(t, a, l)
			if stream != "" {
				if !col.wait(l.total(), 2*time.Minute) {
					t.Errorf("ring B got %d of %d records", col.count(), l.total())
				}
				stopOut()
				stopIn()
			} else {
				accounted(col, inStats, l.total())
				out := stopOut()
				in := stopIn()
				missing := uint64(in["missing"].(float64))
				t.Logf("sent %v, received %d, missing %d", out["records"], col.count(), missing)
				if col.count()+missing != l.total() {
					t.Errorf("received %d + missing %d != sent %d", col.count(), missing, l.total())
				}
			}
			cancel()
			<-col.done
			col.check(t)
		})
	}
}

// TestBridge_ServerRestart restarts the NATS server mid-stream: with
// JetStream (which keeps its store) nothing is lost or doubled; with
// core NATS the receiving bridge's missing count is exactly what ring B
// lacks.
func TestBridge_ServerRestart(t *testing.T) {
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			ns := startServer(t)
			l := load{writers: 2, per: 10000, max: 1024}
			a, b := ringName(t, "a"), ringName(t, "b")
			createRing(t, a, 256<<10)
			createRing(t, b, 256<<10)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			exact := mode == "jetstream"
			col := collect(t, ctx, b, l, exact)
			stream := ""
			if exact {
				stream = "SR"
			}
			stopIn, inStats := runBridgeStats(t, bridge.Config{Direction: bridge.Inbound, Ring: b, NATS: endpoint(t, ns.url("sr.data"), false), Stream: stream})
			if !exact {
				time.Sleep(200 * time.Millisecond)
			}
			stopOut := runBridge(t, bridge.Config{Direction: bridge.Outbound, Ring: a, NATS: endpoint(t, ns.url("sr.data"), true), Stream: stream})
			produced := make(chan struct{})
			go func() { defer close(produced); produce(t, a, l) }()
			for _, at := range []uint64{l.total() / 4, l.total() / 2} {
				// Core NATS drops what is sent while the receiver is not
				// resubscribed yet: ring B may never reach the mark, so
				// the wait ends also when everything is written (bounded).
				deadline := time.Now().Add(time.Minute)
			wait:
				for col.count() < at && time.Now().Before(deadline) {
					select {
					case <-produced:
						break wait
					case <-time.After(time.Millisecond):
					}
				}
				ns.restart()
				t.Logf("server restarted at %d records", col.count())
			}
			<-produced
			if exact {
				if !col.wait(l.total(), time.Minute) {
					t.Errorf("ring B got %d of %d records", col.count(), l.total())
				}
				stopOut()
				stopIn()
			} else {
				accounted(col, inStats, l.total())
				stopOut()
				in := stopIn()
				missing := uint64(in["missing"].(float64))
				t.Logf("received %d, missing %d", col.count(), missing)
				if col.count()+missing != l.total() {
					t.Errorf("received %d + missing %d != sent %d", col.count(), missing, l.total())
				}
			}
			cancel()
			<-col.done
			col.check(t)
		})
	}
}

// accounted waits until every record written into ring A is in ring B
// or counted missing by the receiving bridge (its latest stats line), or
// a minute has passed: with nothing lost that is when the last record
// arrives; a lost tail is counted when the sender's heartbeat comes, a
// second after its last message. The caller then checks the sum exactly.
func accounted(col *collector, in func() map[string]any, total uint64) {
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if m := in(); m != nil && col.count()+uint64(m["missing"].(float64)) >= total {
			return
		}
	}
}
