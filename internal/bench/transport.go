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
	// A Sender that is also a Flusher may hold the record back.
	Send(rec []byte) error
	Close() error
}

// Flusher is a Sender that gathers records to send them in batches
// (pipe-buffered). Flush sends every record Send has taken. The peers
// flush whenever they wait for an answer (each ping and echo of the
// latency mode) and after the end marker; in between, a batching sender
// sends when its batch is full.
type Flusher interface {
	Flush() error
}

// flush flushes s if it is a Flusher.
func flush(s Sender) error {
	if f, ok := s.(Flusher); ok {
		return f.Flush()
	}
	return nil
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

// traits are what the table says about a transport. Every transport
// embeds them for the descriptive methods of Transport; one with a size
// limit defines its own Unsupported.
type traits struct {
	name   string
	kernel bool
	sync   string
	lossy  bool
}

func (t traits) Name() string         { return t.name }
func (t traits) Kernel() bool         { return t.kernel }
func (t traits) Sync() string         { return t.sync }
func (t traits) Lossy() bool          { return t.lossy }
func (traits) Unsupported(int) string { return "" }

// Synchronisation of the ring's three wait strategies, as the table says it.
const (
	ringAdaptive = "atomics + spin, then futex"
	ringSpin     = "atomics + spin"
	ringBlock    = "atomics + brief spin, then futex"
)

// all lists every transport in the order of the table: kernel transports
// first, then the software ones.
var all = []Transport{
	pipeTransport{traits: traits{name: "pipe", kernel: true, sync: "blocking read/write"}},
	bufferedPipeTransport{traits: traits{name: "pipe-buffered", kernel: true, sync: "64 KiB bufio each side, blocking read/write"}},
	fifoTransport{traits{name: "fifo", kernel: true, sync: "blocking read/write"}},
	unixTransport{traits: traits{name: "unix-stream", kernel: true, sync: "blocking send/recv"}},
	unixTransport{traits: traits{name: "unix-seqpacket", kernel: true, sync: "blocking send/recv"}, seqpacket: true},
	tcpTransport{traits: traits{name: "tcp-loopback", kernel: true, sync: "TCP stack, blocking send/recv"}},
	posixMQTransport{traits{name: "posix-mq", kernel: true, sync: "blocking mq_timedsend/receive"}},
	sysvMQTransport{traits{name: "sysv-mq", kernel: true, sync: "blocking msgsnd/msgrcv"}},
	flockTransport{traits{name: "shm-file-flock", kernel: true, sync: "flock + pwrite/pread, reader polls", lossy: true}},
	snapshotTransport{traits{name: "snapshot", sync: "seqlock, reader polls", lossy: true}},
	ringTransport{traits: traits{name: "ring", sync: ringAdaptive}, wait: shmbuf.WaitAdaptive},
	ringTransport{traits: traits{name: "ring-spin", sync: ringSpin}, wait: shmbuf.WaitSpin},
	ringTransport{traits: traits{name: "ring-block", sync: ringBlock}, wait: shmbuf.WaitBlock},
	ringTransport{traits: traits{name: "ring-sysv", sync: ringAdaptive}, wait: shmbuf.WaitAdaptive, sysv: true},
	ringBatchTransport{ringTransport{traits: traits{name: "ring-batch", sync: "WriteBatch/ReadBatch, spin, then futex"}, wait: shmbuf.WaitAdaptive}},
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
