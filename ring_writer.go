package shmbuf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// WriterOptions controls NewWriter.
type WriterOptions struct {
	// Wait is how the writer waits for space (policy block) or for another
	// writer's record it must pass (policy overwrite).
	Wait WaitStrategy
}

// Writer appends records to a ring. Each Write is one record; records of
// different writers never interleave, and one writer's records arrive in
// the order it wrote them.
//
// A Writer is for one goroutine at a time: its methods must not be called
// concurrently with each other (use one Writer per goroutine; they may
// share a Ring), except Close and CloseWithError, which may be called from
// any goroutine to end a call in progress (it returns ErrClosed), as the
// Ring's Close does.
type Writer struct {
	r    *Ring
	l    *layout.Ring
	slot *layout.WriterSlot
	idx  uint64
	gen  uint32   // the generation of the slot's State this writer took
	lf   *os.File // file-backed: the description holding the slot's lock
	wait WaitStrategy

	// limit caches how far writers may claim: every position below it is
	// free space (the gate plus the capacity, or Head plus the capacity).
	limit uint64

	// pending is a Claim not yet committed: its record position and size.
	pending  bool
	claimPos uint64
	claimLen uint64

	records, bytes uint64 // published by flushCounters
	lastLen        uint64 // the ClaimLen last stored in the slot
	calls          callGate
	ws             waitState
}

// NewWriter registers a writer in one of the ring's writer slots. On a
// file-backed ring the writer opens the segment file again and holds the
// slot's lock on that description while it is attached: the proof, for
// other processes, that it is alive.
func (r *Ring) NewWriter(o WriterOptions) (w *Writer, err error) {
	if err := r.holdWritable("writer"); err != nil {
		return nil, err
	}
	defer r.release()
	if o.Wait < WaitAdaptive || o.Wait > WaitBlock {
		return nil, wrapErr("writer", r.addr, ErrInvalidArgument, fmt.Errorf("unknown wait strategy %d", o.Wait))
	}
	defer faultGuard(&err, "writer", r.addr, nil, nil, debug.SetPanicOnFault(true))
	var lf *os.File
	if r.lf != nil {
		if lf, err = reopenSegment(r.seg); err != nil {
			return nil, err
		}
		defer func() {
			if w == nil {
				lf.Close()
			}
		}()
	}
	self := proc.Self()
	for try := 0; try < 2; try++ {
		for i := range r.l.Writers {
			s := &r.l.Writers[i]
			st, ok, err := takeSlot(lf, &s.State, layout.WriterLock(i), self.Pid)
			if err != nil {
				return nil, wrapErr("writer", r.addr, nil, err)
			}
			if !ok {
				continue
			}
			gen := layout.SlotGen(st)
			s.Start.Store(self.Start)
			// Partner: ownerOf's loads (Owner before Start).
			s.Owner.Store(layout.OwnerWord(self.NS, gen))
			s.Claim.Store(0)
			s.ClaimLen.Store(0)
			s.Records.Store(0)
			s.Bytes.Store(0)
			s.State.Store(layout.SlotState(gen, self.Pid, layout.SlotActive))
			w := &Writer{r: r, l: r.l, slot: s, idx: uint64(i), gen: gen, lf: lf, wait: o.Wait}
			r.mu.Lock()
			r.writers[w] = struct{}{}
			r.mu.Unlock()
			return w, nil
		}
		r.reapWriters()
	}
	return nil, wrapErr("writer", r.addr, ErrWritersFull, fmt.Errorf("limit %d writers", len(r.l.Writers)))
}

// takeSlot moves a free slot to attaching for pid and returns its new
// State. On a file-backed ring (lf not nil) it takes the slot's lock on
// lf first, and gives it back if the slot turns out not to be free:
// lock first, so that a taken slot whose lock is free is a dead
// owner's. ok is false for a slot that is taken, locked or lost to
// another attacher.
func takeSlot(lf *os.File, state *atomic.Uint64, lock int64, pid int32) (st uint64, ok bool, err error) {
	st = state.Load()
	if layout.SlotStateOf(st) != layout.SlotFree {
		return 0, false, nil
	}
	if lf != nil {
		got, err := ofdTryLock(lf, lock, lockExclusive)
		if err != nil || !got {
			return 0, false, err
		}
		// Under the lock: only a dead owner's State can be here besides
		// free, and the reaper frees it.
		st = state.Load()
	}
	next := layout.SlotState(layout.NextGen(st), pid, layout.SlotAttaching)
	// Partner: the reaper's and checkers' loads of State; the pid and
	// the generation ride in the same word, so a taken slot always names
	// its owner.
	if layout.SlotStateOf(st) != layout.SlotFree || !state.CompareAndSwap(st, next) {
		if lf != nil {
			ofdUnlock(lf, lock)
		}
		return 0, false, nil
	}
	return next, true, nil
}

// Write appends p as one record, waiting for space under policy block.
// A p longer than MaxRecord is refused with ErrTooLarge and nothing is
// written; an empty p writes nothing.
func (w *Writer) Write(p []byte) (int, error) {
	return w.WriteContext(context.Background(), p)
}

// WriteContext is Write, giving up with ctx.Err() when ctx ends while it
// waits for space.
func (w *Writer) WriteContext(ctx context.Context, p []byte) (n int, err error) {
	if !w.calls.enter() {
		return 0, w.closedErr()
	}
	// One fault guard for the whole record: claim, copy and publish.
	done := false
	defer faultGuard(&err, "write", w.r.addr, &w.calls, &done, debug.SetPanicOnFault(true))
	size := uint64(len(p))
	// One comparison sends empty, oversized and misused writes to the
	// slow path: size-1 wraps around for an empty p.
	if size-1 >= w.l.MaxRecord || w.pending {
		if len(p) == 0 {
			done = true
			return 0, nil
		}
		_, err := w.claimRecord(ctx, len(p)) // reports the misuse
		done = true
		return 0, err
	}
	pos, err := w.claim(ctx, layout.RecordSize(size))
	if err != nil {
		return 0, err
	}
	off := pos&w.l.Mask + layout.RecordHdrSize
	copy(w.l.Data[off:off+size], p)
	w.claimPos, w.claimLen = pos, size
	w.publish()
	done = true
	return len(p), nil
}

// Claim reserves a record of n bytes (1 to MaxRecord) and returns its
// payload, which the caller fills in place; the record is published by
// Commit, or dropped by Abort. The slice is valid until Commit, Abort or
// Close. Readers wait at an uncommitted record, so Commit (or Abort)
// promptly.
func (w *Writer) Claim(n int) ([]byte, error) {
	return w.claimCtx(context.Background(), n)
}

// ClaimContext is Claim with a context that bounds the wait for space
// (policy block): a caller that fills the payload with a read(2) from a
// file or socket, say, has one copy instead of two.
func (w *Writer) ClaimContext(ctx context.Context, n int) ([]byte, error) {
	return w.claimCtx(ctx, n)
}

func (w *Writer) claimCtx(ctx context.Context, n int) (buf []byte, err error) {
	if !w.calls.enter() {
		return nil, w.closedErr()
	}
	defer w.calls.exit()
	defer faultGuard(&err, "write", w.r.addr, nil, nil, debug.SetPanicOnFault(true))
	return w.claimRecord(ctx, n)
}

func (w *Writer) closedErr() error {
	return wrapErr("write", w.r.addr, ErrClosed, nil)
}

// claimRecord checks a request for a record of n bytes and claims it:
// the body of Claim, for callers that already run under a fault guard.
func (w *Writer) claimRecord(ctx context.Context, n int) ([]byte, error) {
	switch {
	case w.pending:
		return nil, wrapErr("write", w.r.addr, ErrInvalidArgument, errors.New("Claim before Commit of the previous claim"))
	case n < 1:
		return nil, wrapErr("write", w.r.addr, ErrInvalidArgument, errors.New("record of zero bytes"))
	case uint64(n) > w.l.MaxRecord:
		return nil, wrapErr("write", w.r.addr, ErrTooLarge, fmt.Errorf("%d bytes, max record %d", n, w.l.MaxRecord))
	}
	pos, err := w.claim(ctx, layout.RecordSize(uint64(n)))
	if err != nil {
		return nil, err
	}
	w.pending, w.claimPos, w.claimLen = true, pos, uint64(n)
	off := pos & w.l.Mask
	return w.l.Data[off+layout.RecordHdrSize : off+layout.RecordHdrSize+uint64(n) : off+layout.RecordHdrSize+uint64(n)], nil
}

// claim reserves size bytes of ring space and returns the record's
// position. A record that would straddle the end of the data area is
// placed at the start of the next lap, and the claim includes the tail of
// this lap, which becomes a padding record.
func (w *Writer) claim(ctx context.Context, size uint64) (uint64, error) {
	ctl, l := w.l.Ctl, w.l
	for {
		t := ctl.Tail.Load()
		start := t
		if rem := l.Capacity - t&l.Mask; rem < size {
			start = t + rem
		}
		end := start + size
		if end > w.limit || end <= t || t+l.Capacity+layout.RecordAlign < w.limit {
			// Out of cached space, or a Tail that cannot be right: one
			// that wraps around, or one below the space writers were
			// given (the limit is at most Tail+8 plus the capacity).
			if end <= t || t+l.Capacity+layout.RecordAlign < w.limit {
				return 0, corruptf("write", w.r.addr, "tail %#x is behind the space writers were given (up to %d)", t, w.limit)
			}
			if err := w.makeRoom(ctx, end); err != nil {
				return 0, err
			}
			continue
		}
		// Record the claim before making it, so that a reaper finding
		// this writer dead can skip it. Partner: the reaper's loads in
		// unblockClaim (the CAS below orders these stores before the
		// claim becomes visible).
		w.slot.Claim.Store(t + 1)
		if end-t != w.lastLen {
			w.slot.ClaimLen.Store(end - t)
			w.lastLen = end - t
		}
		// Partner: the other writers' CAS and Tail loads.
		if !ctl.Tail.CompareAndSwap(t, end) {
			// Lost the race: the winner's claim now starts at t too.
			// Clear ours at once, or a reaper finding the winner dead
			// would take our stale record for the winner's and leave its
			// unpublished claim in place, while we wait for space that
			// only its unblocking frees. Partner: the reaper's load in
			// unblockClaim.
			w.slot.Claim.Store(0)
			continue
		}
		if start != t && start-t >= layout.RecordHdrSize {
			publishPad(l, t, start-t, w.idx)
		}
		return start, nil
	}
}

// publishPad makes [pos, pos+size) a padding record filling a claim of
// writer slot slot. Partner of the stamp store: the reader's Stamp.Load.
func publishPad(l *layout.Ring, pos, size, slot uint64) {
	h := l.Hdr(pos & l.Mask)
	h.Len = uint32(size - layout.RecordHdrSize)
	h.Flags = layout.RecordFlags(slot, true)
	h.Stamp.Store(l.Stamp(pos))
}

// Commit publishes the record reserved by Claim.
func (w *Writer) Commit() (err error) {
	if !w.calls.enter() {
		return w.closedErr()
	}
	defer w.calls.exit()
	if !w.pending {
		return wrapErr("write", w.r.addr, ErrInvalidArgument, errors.New("Commit without Claim"))
	}
	defer faultGuard(&err, "write", w.r.addr, nil, nil, debug.SetPanicOnFault(true))
	w.publish()
	return nil
}

// Abort drops the record reserved by Claim without closing the writer:
// its space becomes padding that readers skip, and the writer may Claim
// or Write again. The slice Claim returned is invalid after it.
func (w *Writer) Abort() (err error) {
	if !w.calls.enter() {
		return w.closedErr()
	}
	defer w.calls.exit()
	if !w.pending {
		return wrapErr("write", w.r.addr, ErrInvalidArgument, errors.New("Abort without Claim"))
	}
	defer faultGuard(&err, "write", w.r.addr, nil, nil, debug.SetPanicOnFault(true))
	publishPad(w.l, w.claimPos, layout.RecordSize(w.claimLen), w.idx)
	w.pending = false
	// Readers waiting at the claim move past the padding.
	if w.l.Ctl.ReaderWaiters.Load() != 0 {
		wakeReaders(w.l)
	}
	return nil
}

// publish makes the pending claim visible to readers.
func (w *Writer) publish() {
	l := w.l
	h := l.Hdr(w.claimPos & l.Mask)
	h.Len = uint32(w.claimLen)
	h.Flags = layout.RecordFlags(w.idx, false)
	// Publish: the stamp is stored last. Partner: the reader's
	// Stamp.Load before it reads Len and the payload.
	h.Stamp.Store(l.Stamp(w.claimPos))
	w.pending = false
	w.records++
	w.bytes += w.claimLen
	if w.records&255 == 0 || w.records == 1 {
		w.flushCounters()
	}
	// A reader that found nothing incremented ReaderWaiters before
	// re-checking the stamp; both sides use sequentially consistent
	// atomics, so either it sees the stamp or we see it waiting.
	if l.Ctl.ReaderWaiters.Load() != 0 {
		wakeReaders(l)
	}
}

// flushCounters publishes the writer's counters and records the time of
// its activity, for stale detection (stores through the mapping do not
// reliably update the file's modification time). It runs at the first
// record, every 256 records after and at Close: the clock is read too
// rarely to cost anything per record.
func (w *Writer) flushCounters() {
	w.slot.Records.Store(w.records)
	w.slot.Bytes.Store(w.bytes)
	w.l.Ctl.LastWrite.Store(time.Now().UnixNano())
}

// Close ends the writer. When it is the last writer attached, the stream
// ends: readers read the records before this point, then get io.EOF. A
// pending Claim is discarded (it becomes padding). A call in progress on
// another goroutine ends with ErrClosed first; Close returns once it has.
func (w *Writer) Close() error { return w.close(layout.EndEOF) }

// CloseWithError is Close, except that when it ends the stream readers
// get ErrWriterLost instead of io.EOF (the error value itself does not
// cross processes). CloseWithError(nil) is Close.
func (w *Writer) CloseWithError(err error) error {
	if err == nil {
		return w.Close()
	}
	return w.close(layout.EndAborted)
}

func (w *Writer) close(cause uint64) error { return w.endClose(cause, w.beginClose()) }

// beginClose marks w closing and wakes its call in progress, if any, so
// that it ends with ErrClosed. first is true for the one Close that must
// finish the job in endClose.
func (w *Writer) beginClose() (first bool) {
	first, busy := w.calls.shut()
	if first && busy {
		wakeWriters(w.l) // a call asleep on the futex word sees the mark
	}
	return first
}

// endClose waits for the call in progress to end, then (first) records
// an end of stream at the current tail, frees the slot, and releases the
// slot's lock; a Close that was not first waits for the one that was.
// The End store comes first so that no moment exists where this writer is
// gone but its end is not recorded: a closer that dies before freeing its
// slot is reaped like any dead writer (and ends the stream as lost).
// Readers honour End only when no writer slot is taken, so a store made
// while other writers remain is overtaken by theirs (End only moves
// forward), and two closers storing End at once are harmless.
func (w *Writer) endClose(cause uint64, first bool) (err error) {
	if !first {
		w.calls.waitFinished()
		return nil
	}
	if w.lf != nil {
		// Deferred first, it runs last, after the slot is freed below.
		defer closeSlotLock(w.lf, layout.WriterLock(int(w.idx)))
	}
	defer w.finishClose()
	defer faultGuard(&err, "close", w.r.addr, nil, nil, debug.SetPanicOnFault(true))
	l := w.l
	w.calls.drain()
	if w.pending {
		publishPad(l, w.claimPos, layout.RecordSize(w.claimLen), w.idx)
		w.pending = false
	}
	w.flushCounters()
	// Swaps, so that a reaper finding this writer dead midway never counts
	// them twice.
	l.Ctl.ClosedRecords.Add(w.slot.Records.Swap(0))
	l.Ctl.ClosedBytes.Add(w.slot.Bytes.Swap(0))
	endStream(l, cause)
	// Partner: writersAttached in readers, which honour End only once
	// every writer slot is free.
	w.slot.State.Store(freeState(layout.SlotState(w.gen, 0, 0)))
	if l.Ctl.ReaderWaiters.Load() != 0 {
		wakeReaders(l)
	}
	return nil
}

// finishClose marks w closed and forgets it.
func (w *Writer) finishClose() {
	w.calls.finish()
	w.r.mu.Lock()
	delete(w.r.writers, w)
	w.r.mu.Unlock()
}

// endStream records an end of stream for cause at the current tail. It
// loads End before Tail, and Tail only grows, so End never moves back
// even when writers that closed at different tails store at once.
// Partner: the reader's End load when it finds nothing to read.
func endStream(l *layout.Ring, cause uint64) {
	for {
		old := l.Ctl.End.Load()
		t := l.Ctl.Tail.Load()
		if l.Ctl.End.CompareAndSwap(old, t&^layout.EndMask|cause) {
			return
		}
	}
}
