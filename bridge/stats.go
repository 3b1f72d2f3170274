package bridge

import (
	"encoding/json"
	"sync/atomic"
	"time"
)

// stats are a bridge's counters, written by its goroutine and read by
// the periodic reporter.
type stats struct {
	records, bytes atomic.Uint64
	// dropped counts records the outbound side read but could not send
	// (core NATS: a publish that failed for good).
	dropped atomic.Uint64
	// missing counts messages the inbound side found missing in the
	// sequence of an outbound session (core NATS): lost in transit, in
	// the server, or dropped by either bridge.
	missing atomic.Uint64
	// duplicates counts messages skipped because they were already
	// delivered: JetStream redeliveries at or below the journal's
	// sequence (inbound), or spooled records the stream already had
	// (outbound, at a restart).
	duplicates atomic.Uint64
	// resent counts messages published again after a reconnection or a
	// restart (outbound JetStream).
	resent atomic.Uint64
	// uncertain counts messages whose record may or may not have reached
	// the ring before a crash, written again (see journal.go).
	uncertain  atomic.Uint64
	reconnects atomic.Uint64
	connected  atomic.Bool
}

// statsLine is the JSON object of one --stats line.
type statsLine struct {
	Time       string `json:"time"`
	Direction  string `json:"direction"`
	Ring       string `json:"ring"`
	Subject    string `json:"subject"`
	Stream     string `json:"stream,omitempty"`
	Records    uint64 `json:"records"`
	Bytes      uint64 `json:"bytes"`
	Dropped    uint64 `json:"dropped"`
	Missing    uint64 `json:"missing"`
	Duplicates uint64 `json:"duplicates"`
	Resent     uint64 `json:"resent"`
	Uncertain  uint64 `json:"uncertain"`
	Reconnects uint64 `json:"reconnects"`
	Connected  bool   `json:"connected"`
	Final      bool   `json:"final"`
}

func (s *stats) line(c *Config, final bool) []byte {
	b, _ := json.Marshal(statsLine{
		Time: time.Now().UTC().Format(time.RFC3339Nano), Direction: c.Direction.String(),
		Ring: c.Ring, Subject: c.NATS.Subject, Stream: c.Stream,
		Records: s.records.Load(), Bytes: s.bytes.Load(), Dropped: s.dropped.Load(),
		Missing: s.missing.Load(), Duplicates: s.duplicates.Load(), Resent: s.resent.Load(),
		Uncertain: s.uncertain.Load(), Reconnects: s.reconnects.Load(), Connected: s.connected.Load(),
		Final: final,
	})
	return append(b, '\n')
}

// report writes a stats line every c.StatsEvery until stop is closed.
func (s *stats) report(c *Config, stop <-chan struct{}) {
	if c.Stats == nil || c.StatsEvery <= 0 {
		return
	}
	t := time.NewTicker(c.StatsEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.Stats.Write(s.line(c, false))
		}
	}
}
