package shmbuf

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// Snapshot is a latest-value segment (a blackboard): writers Publish whole
// values, readers Load the newest complete one.
//
// The value lives in two slots. A writer fills the slot readers are not
// pointed at, then flips the generation counter, so Publish never waits for
// readers, and a writer that dies mid-update leaves the previous value
// intact. Each slot is a sequence lock: a Load that overlaps a rewrite of
// its slot sees the sequence change and retries, so it never returns a mix
// of two values. Writers exclude each other with a lock word that records
// the holder's pid and start time; a lock whose holder died is taken over.
//
// A Snapshot's methods may be called from several goroutines at once,
// except Close.
type Snapshot struct {
	seg  *Segment
	l    *layout.Snapshot
	addr string
	a    Address // kept apart from seg, which Close clears
}

// CreateSnapshot creates a snapshot segment able to hold values of up to
// opts.Size bytes.
func CreateSnapshot(addr string, opts CreateOptions) (*Snapshot, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if opts.Size <= 0 {
		return nil, wrapErr("create", a.String(), ErrInvalidSize, errors.New("capacity must be positive"))
	}
	total, ok := layout.SnapshotSize(uint64(opts.Size))
	if !ok || total > 1<<50 {
		return nil, wrapErr("create", a.String(), ErrInvalidSize, errors.New("capacity too large"))
	}
	segOpts := opts
	segOpts.Size = int64(total)
	seg, err := newSegment(a, segOpts)
	if err != nil {
		return nil, err
	}
	h, _ := layout.HeaderOf(seg.data)
	self := proc.Self()
	h.Kind = layout.KindSnapshot
	h.SegmentSize = total
	h.Capacity = uint64(opts.Size)
	h.CreatorPid = self.Pid
	h.CreatorStart = self.Start
	h.CreatedNanos = time.Now().UnixNano()
	h.Publish()
	// Only now does the snapshot appear at its address, complete.
	if err := seg.publish("create"); err != nil {
		return nil, err
	}
	return newSnapshot(seg)
}

// OpenSnapshot opens an existing snapshot segment. It validates the header
// first and returns ErrNotShmbuf, ErrVersion, ErrWrongKind or ErrCorrupt
// for a segment it cannot trust. When the caller may only read the segment
// it is mapped read-only and Publish returns ErrReadOnly.
func OpenSnapshot(addr string) (*Snapshot, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	seg, err := OpenSegment(a, false)
	if errors.Is(err, errPermission) {
		seg, err = OpenSegment(a, true)
	}
	if err != nil {
		return nil, err
	}
	return newSnapshot(seg)
}

func newSnapshot(seg *Segment) (s *Snapshot, err error) {
	addr := seg.addr.String()
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = faultErr(r, "open", addr)
		}
		if err != nil {
			seg.Close()
		}
	}()
	l, err := layout.SnapshotOf(seg.data)
	if err != nil {
		return nil, headerErr("open", addr, err)
	}
	return &Snapshot{seg: seg, l: l, addr: addr, a: seg.addr}, nil
}

// headerErr maps layout's validation errors to the public sentinels.
func headerErr(op, addr string, err error) error {
	switch {
	case errors.Is(err, layout.ErrShort), errors.Is(err, layout.ErrMagic):
		return wrapErr(op, addr, ErrNotShmbuf, nil)
	case errors.Is(err, layout.ErrVersion):
		return wrapErr(op, addr, ErrVersion, fmt.Errorf("this build reads version %d", layout.Version))
	case errors.Is(err, layout.ErrKind):
		return wrapErr(op, addr, ErrWrongKind, nil)
	}
	return wrapErr(op, addr, ErrCorrupt, err)
}

// Capacity returns the largest value the snapshot holds.
func (s *Snapshot) Capacity() int { return int(s.l.Capacity) }

// Addr returns the segment's address.
func (s *Snapshot) Addr() Address { return s.a }

// Generation returns how many values have been published; 0 means none.
// A closed snapshot, or one truncated under its mapping, returns 0: the
// word lives in memory that may be gone.
func (s *Snapshot) Generation() (gen uint64) {
	if s.seg == nil {
		return 0
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			faultErr(r, "read", s.addr) // re-panics unless a memory fault
			gen = 0
		}
	}()
	return s.l.Ctl.Gen.Load()
}

// Publish makes p the snapshot's value. It never waits for readers; it
// waits only for another writer that is in the middle of its own Publish
// (or, if that writer died, until its death is noticed). p larger than
// Capacity is refused with ErrTooLarge and nothing changes.
func (s *Snapshot) Publish(p []byte) (err error) {
	if s.seg == nil {
		return wrapErr("write", s.addr, ErrClosed, nil)
	}
	if s.seg.readOnly {
		return wrapErr("write", s.addr, ErrReadOnly, nil)
	}
	if uint64(len(p)) > s.l.Capacity {
		return wrapErr("write", s.addr, ErrTooLarge,
			fmt.Errorf("%d bytes, capacity %d", len(p), s.l.Capacity))
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = faultErr(r, "write", s.addr)
		}
	}()
	self := proc.Self()
	s.lock(self)
	// Deferred so that a fault (the segment truncated mid-update) does not
	// leave the lock held by this live process, which would make every
	// other writer wait forever. A fault in unlock itself is recovered by
	// the deferred function above.
	defer s.unlock(self)
	ctl := s.l.Ctl
	gen := ctl.Gen.Load() + 1
	i := gen & 1
	slot := s.l.Slots[i]
	// Odd: readers that reach this slot retry. Partner: the reader's
	// second Seq load in Load.
	slot.Seq.Store(2*gen - 1)
	copy(s.l.Data[i], p)
	slot.Len.Store(uint64(len(p)))
	// Release the slot, then point readers at it. Partners: the reader's
	// Gen and first Seq loads in Load.
	slot.Seq.Store(2 * gen)
	ctl.Gen.Store(gen)
	ctl.LastStart.Store(self.Start)
	ctl.LastPid.Store(uint64(self.Pid))
	return nil
}

// lock takes the writer lock, taking it over from a holder that died.
func (s *Snapshot) lock(self proc.Identity) {
	ctl := s.l.Ctl
	for spins := 0; ; spins++ {
		if ctl.LockPid.CompareAndSwap(0, uint64(self.Pid)) {
			ctl.LockStart.Store(self.Start)
			return
		}
		if spins < 100 {
			runtime.Gosched()
			continue
		}
		holder := ctl.LockPid.Load()
		start := ctl.LockStart.Load()
		if holder != 0 && !proc.Alive(proc.Identity{Pid: int32(holder), Start: start}) {
			// Clear the dead holder's start time before taking its pid's
			// place: a third writer that read our pid next to that stale
			// start time would judge us dead and take the lock from us.
			// With 0 there, it checks our pid alone and waits.
			ctl.LockStart.CompareAndSwap(start, 0)
			if ctl.LockPid.CompareAndSwap(holder, uint64(self.Pid)) {
				ctl.LockStart.Store(self.Start)
				return
			}
		}
		time.Sleep(50 * time.Microsecond)
		spins = 0
	}
}

func (s *Snapshot) unlock(self proc.Identity) {
	s.l.Ctl.LockStart.Store(0)
	s.l.Ctl.LockPid.CompareAndSwap(uint64(self.Pid), 0)
}

// Load appends the newest complete value to dst[:0] and returns it; with a
// dst of sufficient capacity it does not allocate. Before the first
// Publish it returns an empty value. A segment whose control words are
// inconsistent returns ErrCorrupt instead of spinning.
func (s *Snapshot) Load(dst []byte) (v []byte, err error) {
	if s.seg == nil {
		return nil, wrapErr("read", s.addr, ErrClosed, nil)
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = faultErr(r, "read", s.addr)
		}
	}()
	ctl := s.l.Ctl
	for tries := 0; ; tries++ {
		// Partner: the writer's Gen.Store in Publish.
		gen := ctl.Gen.Load()
		if gen == 0 {
			return dst[:0], nil
		}
		i := gen & 1
		slot := s.l.Slots[i]
		seq := slot.Seq.Load()
		if seq != 2*gen {
			if ctl.Gen.Load() == gen {
				// A writer only rewrites this slot after advancing Gen,
				// so an unchanged Gen with a foreign Seq is corruption.
				return nil, wrapErr("read", s.addr, ErrCorrupt, errors.New("slot sequence disagrees with generation"))
			}
			continue
		}
		n := slot.Len.Load()
		if n > s.l.Capacity {
			if slot.Seq.Load() == seq {
				return nil, wrapErr("read", s.addr, ErrCorrupt, fmt.Errorf("value length %d exceeds capacity %d", n, s.l.Capacity))
			}
			continue
		}
		dst = append(dst[:0], s.l.Data[i][:n]...)
		// Partner: the writer's odd Seq.Store before it rewrites the slot.
		if slot.Seq.Load() == seq {
			return dst, nil
		}
		if tries > 100 {
			runtime.Gosched()
		}
	}
}

// Creator returns the pid of the process that created the snapshot,
// whether that same process (pid and start time, so a reused pid does not
// count) is still running, and when the segment was created. The header
// holding them was validated when the snapshot was opened and is never
// written again. A closed or truncated snapshot returns zero values.
func (s *Snapshot) Creator() (pid int, alive bool, created time.Time) {
	if s.seg == nil {
		return 0, false, time.Time{}
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			faultErr(r, "stat", s.addr)
			pid, alive, created = 0, false, time.Time{}
		}
	}()
	h, err := layout.HeaderOf(s.seg.data)
	if err != nil {
		return 0, false, time.Time{}
	}
	id := proc.Identity{Pid: h.CreatorPid, Start: h.CreatorStart}
	return int(id.Pid), proc.Alive(id), time.Unix(0, h.CreatedNanos)
}

// Close unmaps the segment.
func (s *Snapshot) Close() error {
	if s.seg == nil {
		return nil
	}
	err := s.seg.Close()
	s.seg = nil
	return err
}

// LastWriter returns the pid of the process that published the newest
// value and whether it is still running; pid 0 before any Publish.
func (s *Snapshot) LastWriter() (pid int, alive bool) {
	if s.seg == nil {
		return 0, false
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			faultErr(r, "stat", s.addr)
			pid, alive = 0, false
		}
	}()
	p := s.l.Ctl.LastPid.Load()
	if p == 0 || p > 1<<31 {
		return 0, false
	}
	return int(p), proc.Alive(proc.Identity{Pid: int32(p), Start: s.l.Ctl.LastStart.Load()})
}
