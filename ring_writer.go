package shmbuf

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

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
	wait WaitStrategy
	self proc.Identity

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

// NewWriter registers a writer in one of the ring's writer slots.
func (r *Ring) NewWriter(o WriterOptions) (w *Writer, err error) {
	if err := r.hold("writer"); err != nil {
		return nil, err
	}
	defer r.release()
	if o.Wait < WaitAdaptive || o.Wait > WaitBlock {
		return nil, wrapErr("writer", r.addr, ErrInvalidArgument, fmt.Errorf("unknown wait strategy %d", o.Wait))
	}
	defer r.guard("writer", &err, debug.SetPanicOnFault(true))
	self := proc.Self()
	for try := 0; try < 2; try++ {
		for i := range r.l.Writers {
			s := &r.l.Writers[i]
			if layout.SlotStateOf(s.State.Load()) != layout.SlotFree {
				continue
			}
			// Partner: the reaper's load of State; the pid rides in
			// the same word, so a claimed slot always names its owner.
			if !s.State.CompareAndSwap(0, layout.SlotState(self.Pid, layout.SlotAttaching)) {
				continue
			}
			s.Start.Store(self.Start)
			atomic.StoreUint64(&s.Claim, 0)
			atomic.StoreUint64(&s.ClaimLen, 0)
			s.Records.Store(0)
			s.Bytes.Store(0)
			r.l.Ctl.Attached.Add(1)
			s.State.Store(layout.SlotState(self.Pid, layout.SlotActive))
			w := &Writer{r: r, l: r.l, slot: s, idx: uint64(i), wait: o.Wait, self: self}
			r.mu.Lock()
			r.writers[w] = struct{}{}
			r.mu.Unlock()
			return w, nil
		}
		r.reapWriters()
	}
	return nil, wrapErr("writer", r.addr, ErrWritersFull, fmt.Errorf("limit %d writers", len(r.l.Writers)))
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
	defer w.r.guardCall(&w.calls, "write", &err, &done, debug.SetPanicOnFault(true))
	size := uint64(len(p))
	// One test sends empty, oversized and misused writes to the slow
	// path: size-1 wraps around for an empty p.
	if size-1 >= w.l.MaxRecord || w.pending {
		if len(p) == 0 {
			done = true
			return 0, nil
		}
		_, err := w.claimLocked(ctx, len(p)) // reports the misuse
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
// Commit. The slice is valid until Commit or Close. Readers wait at an
// uncommitted record, so Commit promptly.
func (w *Writer) Claim(n int) ([]byte, error) {
	return w.claimCtx(context.Background(), n)
}

func (w *Writer) claimCtx(ctx context.Context, n int) (buf []byte, err error) {
	if !w.calls.enter() {
		return nil, w.closedErr()
	}
	defer w.calls.exit()
	defer w.r.guard("write", &err, debug.SetPanicOnFault(true))
	return w.claimLocked(ctx, n)
}

func (w *Writer) closedErr() error {
	return wrapErr("write", w.r.addr, ErrClosed, nil)
}

// claimLocked is claimCtx for callers that already guard against faults.
func (w *Writer) claimLocked(ctx context.Context, n int) ([]byte, error) {
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
		// this writer dead can skip it. Plain stores: the CAS below
		// orders them (partner: the reaper's atomic loads).
		w.slot.Claim = t + 1
		if end-t != w.lastLen {
			w.slot.ClaimLen = end - t
			w.lastLen = end - t
		}
		// Partner: the other writers' CAS and Tail loads.
		if !ctl.Tail.CompareAndSwap(t, end) {
			// Lost the race: the winner's claim now starts at t too.
			// Clear ours at once, or a reaper finding the winner dead
			// would take our stale record for the winner's and leave its
			// unpublished claim in place, while we wait for space that
			// only its unblocking frees (found by the crash suite, about
			// once in a thousand kills). Partner: the reaper's load in
			// unblockClaim.
			atomic.StoreUint64(&w.slot.Claim, 0)
			continue
		}
		if start != t && start-t >= layout.RecordHdrSize {
			publishPad(l, t, start-t)
		}
		return start, nil
	}
}

// publishPad makes [pos, pos+size) a padding record. Partner of the stamp
// store: the reader's Stamp.Load.
func publishPad(l *layout.Ring, pos, size uint64) {
	h := l.Hdr(pos & l.Mask)
	h.Len = uint32(size - layout.RecordHdrSize)
	h.Flags = layout.FlagPad
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
	defer w.r.guard("write", &err, debug.SetPanicOnFault(true))
	w.publish()
	return nil
}

// publish makes the pending claim visible to readers.
func (w *Writer) publish() {
	l := w.l
	h := l.Hdr(w.claimPos & l.Mask)
	h.Len = uint32(w.claimLen)
	h.Flags = 0
	// Publish: the stamp is stored last. Partner: the reader's
	// Stamp.Load before it reads Len and the payload.
	h.Stamp.Store(l.Stamp(w.claimPos))
	w.pending = false
	w.records++
	w.bytes += w.claimLen
	if w.records&255 == 0 {
		w.flushCounters()
	}
	// A reader that found nothing incremented ReaderWaiters before
	// re-checking the stamp; both sides use sequentially consistent
	// atomics, so either it sees the stamp or we see it waiting.
	if l.Ctl.ReaderWaiters.Load() != 0 {
		wakeReaders(l)
	}
}

func (w *Writer) flushCounters() {
	w.slot.Records.Store(w.records)
	w.slot.Bytes.Store(w.bytes)
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

func (w *Writer) close(kind uint64) error { return w.endClose(kind, w.beginClose()) }

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

// endClose waits for the call in progress to end, then detaches the
// writer (first), or waits for the Close that does (not first).
func (w *Writer) endClose(kind uint64, first bool) (err error) {
	if !first {
		w.calls.waitFinished()
		return nil
	}
	defer w.finishClose()
	defer w.r.guard("close", &err, debug.SetPanicOnFault(true))
	l := w.l
	w.calls.drain()
	if w.pending {
		publishPad(l, w.claimPos, layout.RecordSize(w.claimLen))
		w.pending = false
	}
	w.flushCounters()
	l.Ctl.ClosedRecords.Add(w.records)
	l.Ctl.ClosedBytes.Add(w.bytes)
	w.slot.Records.Store(0)
	w.slot.Bytes.Store(0)
	w.slot.State.Store(layout.SlotFree)
	detachWriter(l, kind)
	return nil
}

// finishClose marks w closed and forgets it.
func (w *Writer) finishClose() {
	w.calls.finish()
	w.r.mu.Lock()
	delete(w.r.writers, w)
	w.r.mu.Unlock()
}

// detachWriter drops the attached-writer count and, when it reaches zero,
// ends the stream at the current tail with kind. Partner of the End
// store: the reader's End.Load when it finds nothing to read.
func detachWriter(l *layout.Ring, kind uint64) {
	for {
		n := l.Ctl.Attached.Load()
		if n == 0 {
			return // a reaper raced us; never wrap below zero
		}
		if l.Ctl.Attached.CompareAndSwap(n, n-1) {
			if n == 1 {
				l.Ctl.End.Store(l.Ctl.Tail.Load() | kind)
				wakeReaders(l)
			}
			return
		}
	}
}
