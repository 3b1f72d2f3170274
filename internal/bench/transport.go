package bench

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shmbuf/shmbuf"
)

// Transport is one way of moving records between two processes.
//
// The coordinating process calls Create once per direction; the peers call
// Sender and Receiver on the ChannelSpec it produced. A transport's
// resources are registered with the Env's cleanup registry as soon as they
// exist, so an interrupted run removes them.
type Transport interface {
	// Name is the transport's name in every output (pipe, ring-spin, …).
	Name() string
	// Kernel is true when the kernel moves the bytes (and is entered for
	// every record); false for software shared buffers.
	Kernel() bool
	// Sync says in a few words how the two sides synchronise.
	Sync() string
	// Lossy is true for latest-value transports, whose readers may miss
	// values by design.
	Lossy() bool
	// Unsupported returns why records of size bytes cannot be measured on
	// this machine, or "" when they can.
	Unsupported(size int) string
	// Create makes one one-way channel for records of size bytes.
	Create(env *Env, size int) (*Channel, error)
	// Sender and Receiver open the two ends of a channel in a peer; a
	// receiver that polls gives up at deadline.
	Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error)
	Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error)
}

// Sender is the writing end of a channel.
type Sender interface {
	// Alloc returns a record buffer of the channel's size that Send
	// transmits without an extra copy.
	Alloc() []byte
	// Send transmits one record, waiting for room if the channel is full.
	Send(rec []byte) error
	Close() error
}

// Receiver is the reading end of a channel.
type Receiver interface {
	// Recv returns the next record. The slice is valid until the next call
	// to Recv or Close (it may point into a shared mapping).
	Recv() ([]byte, error)
	Close() error
}

// Channel is one direction of a transport as the coordinating process made
// it: what the peers need to open their ends, and the descriptors they
// inherit (nil when the ends are opened by name).
type Channel struct {
	Spec                   ChannelSpec
	WriterFile, ReaderFile *os.File
	// remove releases everything Create made; it runs once, from the
	// cleanup registry.
	remove func() error
}

// ChannelSpec travels to a peer in its environment.
type ChannelSpec struct {
	Addr string `json:"addr,omitempty"`
	// FD is the peer's inherited descriptor for its end, or -1.
	FD int `json:"fd"`
}

// all lists every transport in the order of the table.
var all = []Transport{
	pipeTransport{},
	fifoTransport{},
	unixTransport{seqpacket: false},
	unixTransport{seqpacket: true},
	tcpTransport{},
	posixMQTransport{},
	sysvMQTransport{},
	flockTransport{},
	snapshotTransport{},
	ringTransport{name: "ring", wait: shmbuf.WaitAdaptive},
	ringTransport{name: "ring-spin", wait: shmbuf.WaitSpin},
	ringTransport{name: "ring-block", wait: shmbuf.WaitBlock},
	ringTransport{name: "ring-sysv", wait: shmbuf.WaitAdaptive, sysv: true},
}

// Names returns every transport's name in table order.
func Names() []string {
	var names []string
	for _, t := range all {
		names = append(names, t.Name())
	}
	return names
}

// Lookup returns the transport called name.
func Lookup(name string) (Transport, error) {
	for _, t := range all {
		if t.Name() == name {
			return t, nil
		}
	}
	known := Names()
	sort.Strings(known)
	return nil, fmt.Errorf("unknown transport %q (known: %s)", name, strings.Join(known, ", "))
}

// kindName is the table's software/kernel column.
func kindName(t Transport) string {
	if t.Kernel() {
		return "kernel"
	}
	return "software"
}
