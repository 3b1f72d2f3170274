package main

import (
	"context"
	"errors"
	"os"

	"github.com/shmbuf/shmbuf"
)

// sink is where `shmbuf write` puts each value: the segment opened as the
// kind it has.
type sink interface {
	// put replaces the segment's value with p.
	put(p []byte) error
	// kind names the segment's kind for the interactive hint.
	kind() string
	close() error
}

// streamSink is a sink that takes piped input as it arrives rather than
// as one value: a ring.
type streamSink interface {
	sink
	stream(in *input) error
}

// sinkOptions are write's flags that only some kinds take.
type sinkOptions struct {
	wait    shmbuf.WaitStrategy // ring
	waitSet bool                // --wait was given
}

// openSink opens the segment at a as want, or, when want is KindUnknown,
// as whatever kind it has; ctx ends a ring writer's wait for space. A
// missing posix or file segment becomes a resizable raw segment on the
// first put, so that bad input or an empty terminal session creates
// nothing before the first value.
func openSink(ctx context.Context, a shmbuf.Address, want shmbuf.Kind, mode os.FileMode, o sinkOptions) (sink, error) {
	addr := a.String()
	k := want
	if k == shmbuf.KindUnknown {
		got, err := detectKind("write", a)
		switch {
		case errors.Is(err, shmbuf.ErrNotExist) && a.Backend != shmbuf.SysV:
			if o.waitSet {
				return nil, usagef("shmbuf: write %s: --wait applies only to a ring; write creates a raw segment", addr)
			}
			return &rawSink{addr: addr, mode: mode, reopen: func() (sink, error) {
				return openSink(ctx, a, want, mode, o)
			}}, nil
		case err != nil:
			return nil, err
		}
		// A segment shmbuf did not mark (Python's, a C program's, one
		// ipcmk made) is raw bytes.
		k = got
		if k == shmbuf.KindUnknown {
			k = shmbuf.KindRaw
		}
	}
	if o.waitSet && k != shmbuf.KindRing {
		return nil, usagef("shmbuf: write %s: --wait applies only to a ring, not %v", addr, k)
	}
	switch k {
	case shmbuf.KindRaw:
		r, err := shmbuf.OpenRaw(addr)
		if errors.Is(err, shmbuf.ErrNotExist) && a.Backend != shmbuf.SysV {
			// Removed since write looked: created again on the first put.
			s := &rawSink{addr: addr, mode: mode}
			if want == shmbuf.KindUnknown {
				s.reopen = func() (sink, error) { return openSink(ctx, a, want, mode, o) }
			}
			return s, nil
		}
		if err != nil {
			return nil, err
		}
		return &rawSink{addr: addr, mode: mode, r: r}, nil
	case shmbuf.KindSnapshot:
		s, err := shmbuf.OpenSnapshot(addr)
		if err != nil {
			return nil, err
		}
		return snapshotSink{s}, nil
	case shmbuf.KindRing:
		return openRingSink(ctx, a, o.wait)
	}
	return nil, usagef("shmbuf: write %s: unsupported kind %v", addr, k)
}

// rawSink stores into a raw segment. r is nil until the segment exists.
type rawSink struct {
	addr string
	mode os.FileMode
	r    *shmbuf.Raw
	// reopen, set when write would take any kind, opens the segment as the
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

func (s *rawSink) kind() string {
	switch {
	case s.won != nil:
		return s.won.kind()
	case s.r == nil:
		return "new raw segment"
	case s.r.Fixed():
		return "raw, fixed size"
	}
	return "raw"
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
type snapshotSink struct{ s *shmbuf.Snapshot }

func (s snapshotSink) put(p []byte) error { return s.s.Publish(p) }
func (s snapshotSink) kind() string       { return "snapshot" }
func (s snapshotSink) close() error       { return s.s.Close() }
