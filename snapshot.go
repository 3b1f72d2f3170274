package shmbuf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
	"golang.org/x/sys/unix"
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
// the holder's pid, start time and pid namespace; a lock whose holder died
// is taken over. On a file-backed snapshot a writer also holds a kernel
// lock on the segment file while it holds the word, which proves it alive
// in any pid namespace; on System V a holder in another pid namespace
// cannot be checked, and a writer waiting for it gives up with
// ErrLockHeld after 5 s.
//
// A Snapshot's methods may be called from several goroutines at once,
// except Close.
type Snapshot struct {
	seg  *segment
	l    *layout.Snapshot
	addr string
	a    Address // kept apart from seg, which Close clears
	// lf is the segment file's description (nil on System V): it holds
	// the users' shared lock, and a Publish holds the writer lock on it.
	// Locks of one description do not exclude each other, so the
	// goroutines of this Snapshot take turns with mu first.
	lf *os.File
	mu sync.Mutex
}

// lockWait is how long Publish on a System V snapshot waits for a writer
// lock held by a process whose liveness it cannot check (one of another
// pid namespace) before it returns ErrLockHeld. A live writer holds the
// lock only while it copies one value. A variable only so that the test
// binary can shorten it (export_test.go).
var lockWait = 5 * time.Second

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
	h.CreatorNS = self.NS
	h.CreatedNanos = time.Now().UnixNano()
	h.Publish()
	// Only now does the snapshot appear at its address, complete.
	if err := seg.publish("create"); err != nil {
		return nil, err
	}
	return newSnapshot(seg, true)
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
	seg, err := openSegment(a, false)
	if errors.Is(err, unix.EACCES) {
		seg, err = openSegment(a, true)
	}
	if err != nil {
		return nil, err
	}
	return newSnapshot(seg, true)
}

// newSnapshot validates seg as a snapshot; a user (not an inspection for
// stale detection) takes the users' shared lock, as newRing does.
func newSnapshot(seg *segment, user bool) (s *Snapshot, err error) {
	addr := seg.addr.String()
	defer func() {
		if err != nil {
			seg.Close()
		}
	}()
	defer faultGuard(&err, "open", addr, nil, nil, debug.SetPanicOnFault(true))
	l, err := layout.SnapshotOf(seg.data)
	if err != nil {
		return nil, headerErr("open", addr, err)
	}
	lf, err := userLock(seg, user)
	if err != nil {
		return nil, err
	}
	return &Snapshot{seg: seg, l: l, addr: addr, a: seg.addr, lf: lf}, nil
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
	// A fault leaves gen 0.
	defer faultGuard(nil, "read", s.addr, nil, nil, debug.SetPanicOnFault(true))
	return s.l.Ctl.Gen.Load()
}

// Publish makes p the snapshot's value. It never waits for readers; it
// waits only for another writer that is in the middle of its own Publish
// (or, if that writer died, until its death is noticed). p larger than
// Capacity is refused with ErrTooLarge and nothing changes. On a System V
// snapshot whose lock a process of another pid namespace has held for
// 5 s, it returns ErrLockHeld and nothing changes.
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
	s.mu.Lock()
	defer s.mu.Unlock()
	defer faultGuard(&err, "write", s.addr, nil, nil, debug.SetPanicOnFault(true))
	self := proc.Self()
	if s.lf != nil {
		// The kernel lock first: while we hold it, no live writer holds
		// the word. Released after the word (deferred calls run last
		// first).
		if err := ofdWaitLock(s.lf, layout.LockSnapshotWriter); err != nil {
			return wrapErr("write", s.addr, nil, err)
		}
		defer ofdUnlock(s.lf, layout.LockSnapshotWriter)
	}
	gen, err := s.lock(self)
	if err != nil {
		return err
	}
	// Deferred so that a fault (the segment truncated mid-update) does not
	// leave the lock held by this live process, which would make every
	// other writer wait forever. A fault in unlock itself is recovered by
	// the deferred function above.
	defer s.unlock(self, gen)
	ctl := s.l.Ctl
	next := ctl.Gen.Load() + 1
	i := next & 1
	slot := s.l.Slots[i]
	// Odd: readers that reach this slot retry. Partner: the reader's
	// second Seq load in Load.
	slot.Seq.Store(2*next - 1)
	copy(s.l.Data[i], p)
	slot.Len.Store(uint64(len(p)))
	// Release the slot, then point readers at it. Partners: the reader's
	// Gen and first Seq loads in Load.
	slot.Seq.Store(2 * next)
	ctl.Gen.Store(next)
	ctl.LastStart.Store(self.Start)
	ctl.LastNS.Store(uint64(self.NS))
	ctl.LastPid.Store(uint64(self.Pid))
	// The time of this value, for stale detection: stores through the
	// mapping do not reliably update the file's modification time.
	ctl.LastWrite.Store(time.Now().UnixNano())
	return nil
}

// lock takes the writer lock word and returns the generation it took it
// at. On a file-backed snapshot the caller holds the kernel writer lock,
// so a held word is a dead writer's and is taken over at once. On System V
// a holder proven dead by its identity is taken over; a live one of this
// pid namespace is waited for; one that cannot be checked is waited for
// up to lockWait.
func (s *Snapshot) lock(self proc.Identity) (uint32, error) {
	ctl := s.l.Ctl
	take := func(st uint64) (uint32, bool) {
		gen := layout.NextGen(st)
		// Partner: other writers' loads of LockState; ownerOf.
		if !ctl.LockState.CompareAndSwap(st, layout.SlotState(gen, self.Pid, layout.LockHeld)) {
			return 0, false
		}
		ctl.LockStart.Store(self.Start)
		ctl.LockOwner.Store(layout.OwnerWord(self.NS, gen))
		return gen, true
	}
	if s.lf != nil {
		for {
			if gen, ok := take(ctl.LockState.Load()); ok {
				return gen, nil
			}
		}
	}
	var held uint64 // the held word being waited for, and since when
	var since time.Time
	for spins := 0; ; spins++ {
		st := ctl.LockState.Load()
		if layout.SlotStateOf(st) == layout.LockFree {
			if gen, ok := take(st); ok {
				return gen, nil
			}
			continue
		}
		if spins < 100 {
			runtime.Gosched()
			continue
		}
		spins = 0
		id, st, known := ownerOf(&ctl.LockState, &ctl.LockStart, &ctl.LockOwner)
		if known && !proc.Alive(id) {
			if gen, ok := take(st); ok {
				return gen, nil
			}
			continue
		}
		if !known || !proc.Judgeable(id) {
			now := time.Now()
			if st != held {
				held, since = st, now
			} else if now.Sub(since) >= lockWait {
				return 0, wrapErr("write", s.addr, ErrLockHeld, fmt.Errorf(
					"pid %d there, held for %v: it may have died holding it", layout.SlotPid(st), lockWait))
			}
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// unlock frees the writer lock word if this writer still holds it.
func (s *Snapshot) unlock(self proc.Identity, gen uint32) {
	ctl := s.l.Ctl
	ctl.LockState.CompareAndSwap(layout.SlotState(gen, self.Pid, layout.LockHeld), layout.SlotState(gen, 0, layout.LockFree))
}

// Load appends the newest complete value to dst[:0] and returns it with
// its generation: the count of values published up to and including it,
// so that a caller polling the snapshot can tell a new value from the one
// it already has (equal values published twice have different
// generations). With a dst of sufficient capacity it does not allocate.
// Before the first Publish it returns an empty value and generation 0. A
// segment whose control words are inconsistent returns ErrCorrupt instead
// of spinning.
func (s *Snapshot) Load(dst []byte) (v []byte, gen uint64, err error) {
	if s.seg == nil {
		return nil, 0, wrapErr("read", s.addr, ErrClosed, nil)
	}
	defer faultGuard(&err, "read", s.addr, nil, nil, debug.SetPanicOnFault(true))
	ctl := s.l.Ctl
	for tries := 0; ; tries++ {
		// Partner: the writer's Gen.Store in Publish.
		gen = ctl.Gen.Load()
		if gen == 0 {
			return dst[:0], 0, nil
		}
		i := gen & 1
		slot := s.l.Slots[i]
		seq := slot.Seq.Load()
		if seq != 2*gen {
			if ctl.Gen.Load() == gen {
				// A writer only rewrites this slot after advancing Gen,
				// so an unchanged Gen with a foreign Seq is corruption.
				return nil, 0, wrapErr("read", s.addr, ErrCorrupt, errors.New("slot sequence disagrees with generation"))
			}
			continue
		}
		n := slot.Len.Load()
		if n > s.l.Capacity {
			if slot.Seq.Load() == seq {
				return nil, 0, wrapErr("read", s.addr, ErrCorrupt, fmt.Errorf("value length %d exceeds capacity %d", n, s.l.Capacity))
			}
			continue
		}
		dst = append(dst[:0], s.l.Data[i][:n]...)
		// Partner: the writer's odd Seq.Store before it rewrites the slot.
		if slot.Seq.Load() == seq {
			return dst, gen, nil
		}
		if tries > 100 {
			runtime.Gosched()
		}
	}
}

// Creator returns the pid of the process that created the snapshot (in
// its own pid namespace), whether that same process (pid and start time,
// so a reused pid does not count) may still be running, and when the
// segment was created. A creator of another pid namespace cannot be
// checked and counts as alive. The header
// holding them was validated when the snapshot was opened and is never
// written again. A closed or truncated snapshot returns zero values.
func (s *Snapshot) Creator() (pid int, alive bool, created time.Time) {
	if s.seg == nil {
		return 0, false, time.Time{}
	}
	// A fault leaves the results zero: they are assigned only by the
	// return below.
	defer faultGuard(nil, "stat", s.addr, nil, nil, debug.SetPanicOnFault(true))
	h, err := layout.HeaderOf(s.seg.data)
	if err != nil {
		return 0, false, time.Time{}
	}
	id := proc.Identity{Pid: h.CreatorPid, Start: h.CreatorStart, NS: h.CreatorNS}
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

// lastWriter returns the pid of the process that published the newest
// value and whether it may still be running (as Creator judges it); pid 0
// before any Publish.
func (s *Snapshot) lastWriter() (pid int, alive bool) {
	if s.seg == nil {
		return 0, false
	}
	// A fault leaves the results zero.
	defer faultGuard(nil, "stat", s.addr, nil, nil, debug.SetPanicOnFault(true))
	p := s.l.Ctl.LastPid.Load()
	if p == 0 || p > 1<<31 {
		return 0, false
	}
	ns := s.l.Ctl.LastNS.Load()
	if ns > 1<<32-1 {
		ns = 0 // not a namespace: cannot tell
	}
	return int(p), proc.Alive(proc.Identity{Pid: int32(p), Start: s.l.Ctl.LastStart.Load(), NS: uint32(ns)})
}
