package bridge

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestHeader_RoundTrip checks that what a sender appends a receiver
// reads back, heartbeats (writer -1) too, and that Nats-Msg-Id depends
// on the origin and the position alone.
func TestHeader_RoundTrip(t *testing.T) {
	o := newOrigin("host-1", ringIdentity{addr: "posix:a b", created: 1234567890123, key: 42})
	for _, want := range []parsedRecord{
		{originID: o.id, writer: 3, pos: 1 << 40, session: 0x9e3779b97f4a7c15, seq: 7},
		{originID: o.id, writer: -1, pos: 0, session: 1, seq: 1},
	} {
		h := string(o.appendHeader(nil, want.writer, want.pos, want.session, want.seq))
		if !strings.HasSuffix(h, " host-1 posix:a%20b 11f71fb04cb") {
			t.Errorf("header %q does not end with the origin", h)
		}
		got, err := parseHeader(h)
		if err != nil || got != want {
			t.Errorf("parseHeader(%q) = %+v, %v; want %+v", h, got, err, want)
		}
	}
	if a, b := string(o.appendMsgID(nil, 255)), string(o.appendMsgID(nil, 255)); a != b || a != o.idHex+"-ff" {
		t.Errorf("message ids %q and %q, want %q", a, b, o.idHex+"-ff")
	}
}

// TestHeader_Malformed feeds parseHeader what any publisher on the
// subject may send: an error each time, never a panic.
func TestHeader_Malformed(t *testing.T) {
	for _, v := range []string{
		"", " ", "1", "1 2 3 4", "1 2 3 4 ", "a 0 1 2", "zz 0 1 2 3", "1 x 1 2 3", "1 0 -1 2 3",
		"1 0 1 zz 3", "1 0 1 2 x", " 1 0 1 2 3", "1  0 1 2 3", "10000000000000000 0 1 2 3",
	} {
		if p, err := parseHeader(v); err == nil {
			t.Errorf("parseHeader(%q) = %+v, want an error", v, p)
		}
	}
}

// FuzzParseHeader: no input panics, and what parses appends back the same.
func FuzzParseHeader(f *testing.F) {
	f.Add("9e3779b97f4a7c15 0 123456 9e3779b97f4a7c15 123456 host posix:a 187b3c0e5f2a1d40")
	f.Add("1 -1 0 1 1")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := parseHeader(v)
		if err != nil {
			return
		}
		o := origin{idHex: v[:strings.IndexByte(v, ' ')]}
		q, err := parseHeader(string(o.appendHeader(nil, p.writer, p.pos, p.session, p.seq)))
		if err != nil || q != p {
			t.Errorf("%q: parsed %+v, again %+v, %v", v, p, q, err)
		}
	})
}

// readyFuture is a publish whose acknowledgement has already come.
type readyFuture struct{ ok chan *jetstream.PubAck }

func (f readyFuture) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f readyFuture) Err() <-chan error            { return make(chan error) }
func (f readyFuture) Msg() *nats.Msg               { return nil }

// TestInflight_AcknowledgedIsSeen: a look without waiting at a message
// whose acknowledgement is there finds it stored, every time (a select
// that also offered "do not wait" took it for pending half the time,
// keeping settled messages in the window).
func TestInflight_AcknowledgedIsSeen(t *testing.T) {
	for i := range 200 {
		fut := readyFuture{ok: make(chan *jetstream.PubAck, 1)}
		fut.ok <- &jetstream.PubAck{}
		f := &inflight{msg: &nats.Msg{}, fut: fut}
		if err := f.check(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if f.state != stored {
			t.Fatalf("look %d: an acknowledged message taken for pending", i)
		}
	}
}
