package bridge

import (
	"fmt"
	"io"
	"time"

	"github.com/shmbuf/shmbuf"
)

// Direction says which way records go.
type Direction int

const (
	// Outbound reads a ring and publishes to NATS.
	Outbound Direction = iota + 1
	// Inbound subscribes to NATS and writes a ring.
	Inbound
)

func (d Direction) String() string {
	if d == Outbound {
		return "out"
	}
	return "in"
}

// Auth is how the bridge proves who it is to the server; the fields map
// one to one to nats.go's options.
type Auth struct {
	Creds          string // a credentials file (JWT and NKey seed)
	User, Password string
	Token          string
	TLSCA          string // the CA that signed the server's certificate
	TLSCert        string // the client's certificate, with TLSKey
	TLSKey         string
	Name           string // the connection name the server shows
}

// Config is one bridge.
type Config struct {
	Direction Direction
	// Ring is the ring's address; NATS is the other side.
	Ring string
	NATS Endpoint
	Auth Auth

	// Stream selects JetStream: the stream (created if missing, bound to
	// the subject); "" is core NATS. Durable is the inbound consumer's
	// name (default: the ring's name and the subject).
	Stream  string
	Durable string
	// State is the address of the bridge's spool (outbound) or journal
	// (inbound) with JetStream; "" derives it from Ring (see StateAddr).
	State string

	// Inbound: the ring made when Ring is missing.
	Size      int64
	MaxRecord int
	Policy    shmbuf.Policy

	// MaxPending bounds the messages in flight (outbound JetStream) or
	// unacknowledged (inbound JetStream); 0 means 1024.
	MaxPending int

	// Log receives one line per event worth a human's attention
	// (disconnected, reconnected, resumed). Stats receives a JSON line
	// every StatsEvery (0: only at the end) and one at the end; nil: none.
	Log        io.Writer
	Stats      io.Writer
	StatsEvery time.Duration
}

const defaultMaxPending = 1024

func (c *Config) maxPending() int {
	if c.MaxPending > 0 {
		return c.MaxPending
	}
	return defaultMaxPending
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "shmbuf: bridge %s: "+format+"\n", append([]any{c.NATS.Text}, args...)...)
	}
}
