package main

import (
	"errors"
	"os"

	"github.com/shmbuf/shmbuf"
)

// sink is where `shmbuf write` puts its input: the segment opened as the
// kind it has.
type sink interface {
	// put stores p: as the segment's value (raw, snapshot) or as records
	// (ring).
	put(p []byte) error
	// banner says, for the interactive writer, what the segment is and
	// what each line entered does to it: "writing to " comes before.
	banner() string
	close() error
}

// rawSink stores into a raw segment. r is nil until the segment exists:
// a missing posix or file segment is created by the first put, as a
// resizable raw segment whose size is its value's, so that bad input or
// an empty terminal session creates nothing.
type rawSink struct {
	addr string
	mode os.FileMode
	r    *shmbuf.Raw
	// reopen, set when write takes any kind, opens the segment as the
	// kind it has; won is that sink once another process created a
	// snapshot or ring at the address first.
	reopen func() (sink, error)
	won    sink
}

func (s *rawSink) put(p []byte) error {
	if s.won != nil {
		return s.won.put(p)
	}
	if s.r != nil {
		return s.r.Store(p)
	}
	// StoreRaw creates a resizable raw segment (or, if another process
	// created one meanwhile, stores into that).
	err := shmbuf.StoreRaw(s.addr, p, s.mode)
	if errors.Is(err, shmbuf.ErrWrongKind) && s.reopen != nil {
		// A snapshot or ring appeared since write looked: the value goes
		// into it as that kind takes it (a ring gets it as records).
		w, err := s.reopen()
		if err != nil {
			return err
		}
		s.won = w
		return w.put(p)
	}
	if err != nil {
		return err
	}
	r, err := shmbuf.OpenRaw(s.addr)
	if err != nil {
		return err
	}
	s.r = r
	return nil
}

func (s *rawSink) banner() string {
	switch {
	case s.won != nil:
		return s.won.banner()
	case s.r == nil:
		return quoteName(s.addr) + ", which does not exist yet: the first line you enter creates it as a raw segment and each line replaces its content"
	case s.r.Fixed():
		return quoteName(s.addr) + " (raw, a fixed-size region): each line you enter replaces its content, zero-padded"
	}
	return quoteName(s.addr) + " (raw): each line you enter replaces its content"
}

func (s *rawSink) close() error {
	if s.won != nil {
		return s.won.close()
	}
	if s.r == nil {
		return nil
	}
	return s.r.Close()
}

// snapshotSink publishes into a snapshot segment.
type snapshotSink struct {
	addr string
	s    *shmbuf.Snapshot
}

func (s *snapshotSink) put(p []byte) error { return s.s.Publish(p) }
func (s *snapshotSink) close() error       { return s.s.Close() }

func (s *snapshotSink) banner() string {
	return quoteName(s.addr) + " (snapshot): each line you enter is published as its new value"
}
