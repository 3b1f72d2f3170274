package shmbuf

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// Ring is a bounded stream of records in shared memory with any number of
// writers and up to Readers readers, each reader with its own cursor, so
// that every reader sees every record (broadcast).
//
// Layout. Positions are 64-bit byte counters that only grow; a position's
// offset in the data area is pos & (Capacity-1), Capacity being a power of
// two. A record is a 16-byte header (stamp, length, flags) and its payload,
// 8-byte aligned. A record that would straddle the end of the data area is
// preceded by a padding record that readers skip.
//
// Writing. A writer records the claim it is about to make in its writer
// slot, claims [Tail, Tail+size) with a CAS on Tail, copies the payload,
// then publishes the record by storing the header's stamp, its position
// mixed with the ring's random key (layout.Ring.Stamp), last with release
// ordering. A reader polls the stamp at its cursor, never a shared
// counter, and what an older lap left there (a header, a payload holding
// any value, 1+a position included, or both in part) or zero memory never
// equals the cursor's stamp, so memory is never zeroed. Readers publish
// their
// cursors to their slots in batches (every Capacity/8 bytes and before they
// sleep), and writers cache the slowest cursor (the Disruptor's gating
// sequence) so that they scan reader slots only when the cached space is
// used up.
//
// Retention. Reading never removes a record: records stay in the ring
// until a writer needs their space, so a reader that starts from the
// oldest record reads everything the ring still holds, as often as it
// likes, also after every writer has gone. Head is the oldest record
// still there; writers move it forward, over whole records, only as far
// as a claim needs (plus a sixteenth of the ring, so that they rarely
// do).
//
// Policies. PolicyBlock: a writer reuses a record's space only once some
// reader has read it and no live reader still needs it. ReadMark says how
// far records were read (every record between Head and ReadMark was
// returned to some reader); a reader raises it when it publishes its
// cursor, provided it started at or below ReadMark (one that started
// from the latest record, above records nobody has read, raises it only
// once others have read up to its start). Head never passes ReadMark nor
// a live reader's cursor, so a record nobody has read is never
// overwritten, and writers with no reader ever attached fill the ring and
// wait. Closing a reader frees its slot and discards nothing.
// PolicyOverwrite: writers never wait for readers. Before claiming space
// they advance Head over whole published records, counting the records
// and payload bytes they pass (Head, the record count and the byte count
// form one triple, updated by one writer at a time under a walk token,
// and published through a two-copy generation like a sequence lock). A
// reader that finds Head beyond its cursor was lapped: its loss is the
// difference between Head's counts and the counts it has read, which is
// exact in records and bytes whatever the number of writers, and it
// resumes at Head.
//
// Observers (NewObserver, OpenRingReadOnly) read without a slot and
// without write access: writers never wait for them, under either
// policy, and an observer that writers lapped counts what it missed from
// the Head triple, which writers keep under both policies.
//
// Waiting. Readers sleep on one futex word, writers waiting for space on
// another; a waker bumps the word and calls FUTEX_WAKE only when the
// matching waiters count is non-zero, so a busy stream makes no system
// calls. Sleeps are cut into slices of at most 100 ms so that context
// cancellation and dead peers are noticed.
//
// Dead peers. Every writer and reader owns a slot. On a file-backed ring
// it holds a lock on the slot's byte of the segment file, which the
// kernel drops when the process dies, in whatever pid namespace it runs;
// on System V the slot records pid, start time and pid namespace, and a
// peer of another namespace is never judged dead. A waiter that has
// waited for 200 ms checks its peers: the claim of a dead writer that
// never published is turned into padding (the idea of Aeron's term
// unblocker), its slot is freed, and when no writer is left the stream
// ends with ErrWriterLost after the records before it. A dead reader's
// slot is freed, so writers stop waiting for it. See
// internal/layout/locks.go for the protocol.
//
// Corruption. At the same tick a waiter checks that the control words are
// possible (positions 8-aligned, Head within one capacity behind Tail,
// the end of stream and the cursors not past Tail, slot states known); a
// check that fails on two ticks in a row ends the wait with ErrCorrupt,
// so a peer that scribbles over the control block cannot make anyone wait
// for ever.
//
// A Ring's methods may be called from several goroutines at once; Writers
// and Readers are each for one goroutine at a time (see their docs), but
// the Ring's Close may end their calls from any goroutine.
type Ring struct {
	seg  *segment
	l    *layout.Ring
	addr string
	// created is the header's creation time (Unix nanoseconds), read once
	// at open: Instance reports it.
	created int64
	// lf is the segment file's description (nil on System V): it holds
	// the users' shared lock and no slot lock, so liveness checks ask from
	// it. Reapers take dead slots' locks on it, one at a time (reapMu).
	lf     *os.File
	reapMu sync.Mutex

	// life is held shared by the Ring's methods that touch the mapping
	// (none of them waits) and exclusively by Close; closed is set under
	// it.
	life   sync.RWMutex
	closed bool

	// readOnly: opened by OpenRingReadOnly, mapped without write access;
	// only observers read it.
	readOnly bool

	mu        sync.Mutex
	writers   map[*Writer]struct{}
	readers   map[*Reader]struct{}
	observers map[*Observer]struct{}
}

// Policy says what writers do when the ring is full.
type Policy int

const (
	// PolicyBlock makes writers wait for the slowest live reader.
	PolicyBlock Policy = iota
	// PolicyOverwrite makes writers overwrite the oldest records; lapped
	// readers get a *LostError.
	PolicyOverwrite
)

func (p Policy) String() string {
	switch p {
	case PolicyBlock:
		return "block"
	case PolicyOverwrite:
		return "overwrite"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// WaitStrategy says how a reader or writer waits.
type WaitStrategy int

const (
	// WaitAdaptive spins for about 50 µs, then sleeps on a futex.
	WaitAdaptive WaitStrategy = iota
	// WaitSpin never sleeps: lowest latency, one busy core per waiter.
	WaitSpin
	// WaitBlock sleeps on a futex after a spin of a few microseconds,
	// shorter than a sleep and wake-up.
	WaitBlock
)

func (w WaitStrategy) String() string {
	switch w {
	case WaitAdaptive:
		return "adaptive"
	case WaitSpin:
		return "spin"
	case WaitBlock:
		return "block"
	}
	return "wait(" + strconv.Itoa(int(w)) + ")"
}

// StartPosition says where a new reader starts.
type StartPosition int

const (
	// FromOldest starts at the oldest record still in the ring.
	FromOldest StartPosition = iota
	// FromLatest starts after the newest record: only records written
	// from now on are read.
	FromLatest
)

func (s StartPosition) String() string {
	switch s {
	case FromOldest:
		return "oldest"
	case FromLatest:
		return "latest"
	}
	return "from(" + strconv.Itoa(int(s)) + ")"
}

// RingOptions controls CreateRing.
type RingOptions struct {
	// Size is the data capacity in bytes, rounded up to a power of two
	// (at least 256).
	Size int64
	// MaxRecord is the largest record payload; 0 means Capacity/4 - 16,
	// capped at 16 MiB. A record takes MaxRecord+16 bytes rounded up to 8,
	// and two of them must fit in the capacity.
	MaxRecord int
	// Readers is the number of reader slots; 0 means 16.
	Readers int
	// Writers is the number of writer slots; 0 means 16.
	Writers int
	Policy  Policy
	// Mode is the permission bits; 0 means 0600.
	Mode os.FileMode
	// Force replaces an existing segment.
	Force bool
}

const (
	defaultSlots     = 16
	defaultMaxRecord = 16 << 20
)

// CreateRing creates a ring segment at addr on any backend.
func CreateRing(addr string, opts RingOptions) (*Ring, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	as := a.String()
	if opts.Size <= 0 || opts.Size > layout.MaxCapacity {
		return nil, wrapErr("create", as, ErrInvalidSize, fmt.Errorf("ring size must be between 1 and %d bytes", int64(layout.MaxCapacity)))
	}
	capacity := uint64(layout.MinCapacity)
	if uint64(opts.Size) > capacity {
		capacity = 1 << bits.Len64(uint64(opts.Size)-1)
	}
	readers, err := slotCount(opts.Readers, "readers", as)
	if err != nil {
		return nil, err
	}
	writers, err := slotCount(opts.Writers, "writers", as)
	if err != nil {
		return nil, err
	}
	if opts.Policy != PolicyBlock && opts.Policy != PolicyOverwrite {
		return nil, wrapErr("create", as, ErrInvalidArgument, fmt.Errorf("unknown policy %d", opts.Policy))
	}
	maxRec := uint64(opts.MaxRecord)
	switch {
	case opts.MaxRecord < 0:
		return nil, wrapErr("create", as, ErrInvalidArgument, errors.New("negative max record"))
	case opts.MaxRecord == 0:
		maxRec = min(capacity/4-layout.RecordHdrSize, defaultMaxRecord)
	}
	if layout.RecordSize(maxRec) > capacity/2 {
		return nil, wrapErr("create", as, ErrInvalidSize,
			fmt.Errorf("ring of %d bytes too small for records of %d bytes: it needs at least %d", capacity, maxRec, 2*layout.RecordSize(maxRec)))
	}
	total, _ := layout.RingSize(capacity, writers, readers)
	seg, err := newSegment(a, CreateOptions{Size: int64(total), Mode: opts.Mode, Force: opts.Force})
	if err != nil {
		return nil, err
	}
	h, _ := layout.HeaderOf(seg.data)
	self := proc.Self()
	h.Kind = layout.KindRing
	h.SegmentSize = total
	h.Capacity = capacity
	h.MaxRecord = maxRec
	h.Readers = readers
	h.Writers = writers
	h.Policy = uint32(opts.Policy)
	h.CreatorPid = self.Pid
	h.CreatorStart = self.Start
	h.CreatorNS = self.NS
	h.CreatedNanos = time.Now().UnixNano()
	h.StampKey = rand.Uint64() | 1<<63 // see layout.Ring.Stamp
	h.Publish()
	// Only now does the ring appear at its address, complete.
	if err := seg.publish("create"); err != nil {
		return nil, err
	}
	return newRing(seg, true)
}

func slotCount(n int, what, addr string) (uint32, error) {
	switch {
	case n < 0 || n > layout.MaxSlots:
		return 0, wrapErr("create", addr, ErrInvalidArgument, fmt.Errorf("%s must be between 1 and %d, or 0 for the default", what, layout.MaxSlots))
	case n == 0:
		return defaultSlots, nil
	}
	return uint32(n), nil
}

// OpenRing opens an existing ring. It validates the header first and
// returns ErrNotShmbuf, ErrVersion, ErrWrongKind or ErrCorrupt for a
// segment it cannot trust. Readers and writers both need write access
// (a reader publishes its cursor); OpenRingReadOnly needs only read
// access, for observers.
func OpenRing(addr string) (*Ring, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	seg, err := openSegment(a, false)
	if err != nil {
		return nil, err
	}
	return newRing(seg, true)
}

// newRing validates seg as a ring. A user (every opener but an
// inspection for stale detection) takes the users' shared lock of a
// file-backed segment, which tells `ls` and `rm --stale` in any pid
// namespace that the ring is in use.
func newRing(seg *segment, user bool) (r *Ring, err error) {
	addr := seg.addr.String()
	defer func() {
		if err != nil {
			seg.Close()
		}
	}()
	defer faultGuard(&err, "open", addr, nil, nil, debug.SetPanicOnFault(true))
	l, err := layout.RingOf(seg.data)
	if err != nil {
		return nil, headerErr("open", addr, err)
	}
	h, err := layout.HeaderOf(seg.data)
	if err != nil {
		return nil, headerErr("open", addr, err)
	}
	created := h.CreatedNanos
	lf, err := userLock(seg, user)
	if err != nil {
		return nil, err
	}
	return &Ring{seg: seg, l: l, addr: addr, lf: lf, created: created, readOnly: seg.readOnly,
		writers: make(map[*Writer]struct{}), readers: make(map[*Reader]struct{}),
		observers: make(map[*Observer]struct{})}, nil
}

// Addr returns the ring's address.
func (r *Ring) Addr() Address { return r.seg.addr }

// MaxRecord returns the largest record payload.
func (r *Ring) MaxRecord() int { return int(r.l.MaxRecord) }

// Capacity returns the size of the data area.
func (r *Ring) Capacity() int { return int(r.l.Capacity) }

// Policy returns the ring's policy.
func (r *Ring) Policy() Policy { return Policy(r.l.Policy) }

// Instance tells this ring from every other ring that had or will have
// its address: the time it was created and a random number drawn then
// (the key of its record stamps). A process that opens an address again
// compares them to learn whether it is still the same ring, and names the
// ring's records across hosts with them (the bridge's message ids).
func (r *Ring) Instance() (created time.Time, id uint64) {
	return time.Unix(0, r.created), r.l.Key
}

// Close closes the Writers and Readers still open on r (a writer's Close
// may end the stream) and unmaps the ring. Like io.Pipe's Close, it ends
// their calls in progress on other goroutines first: a Reader waiting in
// Next or a Writer waiting for space returns ErrClosed, and Close returns
// once they have. Slices that Next or Claim returned are invalid after it.
func (r *Ring) Close() error {
	r.life.Lock()
	defer r.life.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.mu.Lock()
	ws := make([]*Writer, 0, len(r.writers))
	for w := range r.writers {
		ws = append(ws, w)
	}
	rs := make([]*Reader, 0, len(r.readers))
	for rd := range r.readers {
		rs = append(rs, rd)
	}
	obs := make([]*Observer, 0, len(r.observers))
	for ob := range r.observers {
		obs = append(obs, ob)
	}
	r.mu.Unlock()
	// Mark every handle first, so that each call in progress ends with
	// ErrClosed rather than with the end of stream the writers' Close
	// records.
	wf := make([]bool, len(ws))
	for i, w := range ws {
		wf[i] = w.beginClose()
	}
	rf := make([]bool, len(rs))
	for i, rd := range rs {
		rf[i] = rd.beginClose()
	}
	of := make([]bool, len(obs))
	for i, ob := range obs {
		of[i] = ob.beginClose()
	}
	for i, w := range ws {
		w.endClose(layout.EndEOF, wf[i])
	}
	for i, rd := range rs {
		rd.endClose(rf[i])
	}
	for i, ob := range obs {
		ob.endClose(of[i])
	}
	return r.seg.Close()
}

// hold admits a Ring method that touches the mapping, or fails with
// ErrClosed; the method calls release when done.
func (r *Ring) hold(op string) error {
	r.life.RLock()
	if r.closed {
		r.life.RUnlock()
		return wrapErr(op, r.addr, ErrClosed, nil)
	}
	return nil
}

func (r *Ring) release() { r.life.RUnlock() }

// holdWritable is hold for the methods that write to the ring: a ring
// opened read-only refuses them with ErrReadOnly.
func (r *Ring) holdWritable(op string) error {
	if r.readOnly {
		return wrapErr(op, r.addr, ErrReadOnly, errors.New("opened with OpenRingReadOnly: only observers read it"))
	}
	return r.hold(op)
}
