package bridge

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"github.com/shmbuf/shmbuf"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// This file holds every use of the shmbuf API outside reading and
// writing records, so that a change of that API touches one place.

// ringIdentity is what tells one ring from another with the same address
// (a ring removed and created again): the address, the creation time and
// the random stamp key from its header.
type ringIdentity struct {
	addr    string // canonical
	created int64  // Unix nanoseconds
	key     uint64
}

// id is a short fixed-size digest of the identity and the host, used in
// message ids and spool entries.
func (r ringIdentity) id(host string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", host, r.addr, r.created, r.key)
	return h.Sum64()
}

// identityOf is the identity of the open ring r.
func identityOf(r *shmbuf.Ring) ringIdentity {
	created, key := r.Instance()
	return ringIdentity{addr: r.Addr().String(), created: created.UnixNano(), key: key}
}

// canonical returns the canonical form of a ring address.
func canonical(addr string) (string, error) {
	a, err := shmbuf.ParseAddress(addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// StateAddr derives the address of a bridge's spool or journal from its
// ring's: NAME.bridge-SUFFIX beside a /dev/shm or file ring. A System V
// ring has no name to derive from: the caller gives --state.
func StateAddr(ring, suffix string) (string, error) {
	a, err := shmbuf.ParseAddress(ring)
	if err != nil {
		return "", err
	}
	switch a.Backend() {
	case shmbuf.POSIX:
		s, err := shmbuf.PosixAddress(a.Name() + ".bridge-" + suffix)
		if err != nil {
			return "", &shmbuf.Error{Op: "bridge", Addr: a.String(), Err: fmt.Errorf("%w: the state's name: %v", shmbuf.ErrInvalidName, err)}
		}
		return s.String(), nil
	case shmbuf.File:
		return "file:" + a.Path() + ".bridge-" + suffix, nil
	}
	return "", &shmbuf.Error{Op: "bridge", Addr: a.String(), Err: fmt.Errorf("%w: a System V ring needs --state ADDR for the bridge's own state", shmbuf.ErrInvalidArgument)}
}

// openSource opens the ring an outbound bridge reads, from its oldest
// record.
func openSource(addr string) (*shmbuf.Ring, *shmbuf.Reader, error) {
	r, err := shmbuf.OpenRing(addr)
	if err != nil {
		return nil, nil, err
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromOldest, Wait: shmbuf.WaitBlock})
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, rd, nil
}

// openSink opens the ring an inbound bridge writes, creating it when
// missing (losing the race to another creator is fine).
func openSink(c *Config) (*shmbuf.Ring, *shmbuf.Writer, error) {
	r, err := shmbuf.OpenRing(c.Ring)
	if errors.Is(err, shmbuf.ErrNotExist) {
		r, err = shmbuf.CreateRing(c.Ring, shmbuf.RingOptions{Size: c.Size, MaxRecord: c.MaxRecord, Policy: c.Policy})
		if errors.Is(err, shmbuf.ErrExist) {
			r, err = shmbuf.OpenRing(c.Ring)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: shmbuf.WaitBlock})
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, w, nil
}

// openState opens (or creates) a bridge's spool or journal: a ring with
// one writer slot and one reader slot, so that a second bridge started
// for the same ring and stream fails instead of sharing it.
func openState(addr string, size int64, maxRecord int, policy shmbuf.Policy) (*shmbuf.Ring, error) {
	r, err := shmbuf.OpenRing(addr)
	if errors.Is(err, shmbuf.ErrNotExist) {
		r, err = shmbuf.CreateRing(addr, shmbuf.RingOptions{Size: size, MaxRecord: maxRecord, Readers: 1, Writers: 1, Policy: policy})
		if errors.Is(err, shmbuf.ErrExist) {
			r, err = shmbuf.OpenRing(addr)
		}
	}
	if err != nil {
		return nil, err
	}
	if r.MaxRecord() < maxRecord {
		r.Close()
		return nil, &shmbuf.Error{Op: "bridge", Addr: addr, Err: fmt.Errorf("%w: the bridge's state ring holds records of %d bytes, %d needed; remove it when no bridge runs",
			shmbuf.ErrTooLarge, r.MaxRecord(), maxRecord)}
	}
	return r, nil
}

// removeState removes a spool or journal that holds nothing the bridge
// still needs.
func removeState(addr string) error {
	err := shmbuf.Remove(addr)
	if errors.Is(err, shmbuf.ErrNotExist) {
		return nil
	}
	return err
}

// recordSize is the ring space of a record of n bytes.
func recordSize(n int) int64 { return int64(layout.RecordSize(uint64(n))) }

// hostname names this host in origins.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// isEnd reports an end of stream from a reader: io.EOF or the writers
// lost.
func isEnd(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, shmbuf.ErrWriterLost)
}
