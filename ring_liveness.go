package shmbuf

import (
	"runtime/debug"
	"sync/atomic"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// slotAlive reports whether the process that owns a slot State word is
// still the one that took it (pid plus start time; a start of 0, not yet
// stored by an attaching owner, is checked by pid alone).
func slotAlive(state, start uint64) bool {
	return proc.Alive(proc.Identity{Pid: layout.SlotPid(state), Start: start})
}

// takeDeadSlot moves an attaching or active slot whose owner is dead to
// SlotReaping and returns the state it had. Only one reaper wins a slot;
// ok is false for a live owner, a free slot, or a lost race. Partner: the
// owner's State stores (the owner is dead and makes none).
func takeDeadSlot(state, start *atomic.Uint64) (kind uint64, ok bool) {
	st := state.Load()
	kind = layout.SlotStateOf(st)
	if kind != layout.SlotActive && kind != layout.SlotAttaching {
		return 0, false
	}
	if slotAlive(st, start.Load()) {
		return 0, false
	}
	if !state.CompareAndSwap(st, layout.SlotState(layout.SlotPid(st), layout.SlotReaping)) {
		return 0, false
	}
	return kind, true
}

// reapWriters frees the slots of dead writers. A dead writer's claim that
// was never published is turned into padding first, so readers waiting at
// it move on; when the last attached writer is found dead, the stream ends
// with ErrWriterLost after the records before it.
func (r *Ring) reapWriters() {
	// A reaper touching a truncated segment gives up quietly; the
	// caller's own access reports ErrTruncated.
	defer quietFault(debug.SetPanicOnFault(true))
	l := r.l
	for i := range l.Writers {
		s := &l.Writers[i]
		kind, ok := takeDeadSlot(&s.State, &s.Start)
		if !ok {
			continue
		}
		if kind == layout.SlotActive {
			r.unblockClaim(i)
			l.Ctl.ClosedRecords.Add(s.Records.Load())
			l.Ctl.ClosedBytes.Add(s.Bytes.Load())
		}
		s.Records.Store(0)
		s.Bytes.Store(0)
		if tok := l.Ctl.WalkToken.Load(); tok == uint64(i)+1 {
			l.Ctl.WalkToken.CompareAndSwap(tok, 0)
		}
		s.State.Store(layout.SlotFree)
		if kind == layout.SlotActive {
			detachWriter(l, layout.EndLost)
		}
		wakeReaders(l)
		wakeWriters(l)
	}
}

// unblockClaim turns the unpublished parts of writer slot i's last claim
// into padding. The claim is skipped if it was published, if its space was
// already read by every reader (the stamps are read before the gate, so a
// stamp from a later lap is never mistaken for a pending claim), or if a
// live writer recorded the same position (the dead one lost the CAS).
func (r *Ring) unblockClaim(i int) {
	l := r.l
	s := &l.Writers[i]
	// Partner: the owner's plain stores before its CAS on Tail.
	c := atomic.LoadUint64(&s.Claim)
	n := atomic.LoadUint64(&s.ClaimLen)
	if c == 0 || n == 0 || n > l.Capacity {
		return
	}
	t := c - 1
	if t%layout.RecordAlign != 0 || n%layout.RecordAlign != 0 || t >= l.Ctl.Tail.Load() {
		return
	}
	// The claim is at most two pieces: the rest of a lap (padding) and a
	// record at the start of the next.
	var pieces [2][2]uint64
	np := 0
	rem := l.Capacity - t&l.Mask
	if n <= rem {
		pieces[0] = [2]uint64{t, n}
		np = 1
	} else {
		if rem >= layout.RecordHdrSize {
			pieces[np] = [2]uint64{t, rem}
			np++
		}
		pieces[np] = [2]uint64{t + rem, n - rem}
		np++
	}
	var pending [2]bool
	anyPending := false
	for k := 0; k < np; k++ {
		p := pieces[k][0]
		if l.Hdr(p&l.Mask).Stamp.Load() != l.Stamp(p) {
			pending[k] = true
			anyPending = true
		}
	}
	if !anyPending {
		return
	}
	floor := l.Ctl.Head.Load()
	if l.Policy == uint32(PolicyBlock) {
		if m, ok := minCursor(l); ok && m < floor {
			floor = m
		}
	}
	if t < floor {
		return
	}
	for j := range l.Writers {
		o := &l.Writers[j]
		if j != i && layout.SlotStateOf(o.State.Load()) == layout.SlotActive && atomic.LoadUint64(&o.Claim) == c {
			return
		}
	}
	for k := 0; k < np; k++ {
		if pending[k] {
			publishPad(l, pieces[k][0], pieces[k][1])
		}
	}
}

// reapReaders frees the slots of dead readers, as if they had closed, and
// wakes writers waiting for the space they held.
func (r *Ring) reapReaders() {
	defer quietFault(debug.SetPanicOnFault(true))
	l := r.l
	for i := range l.Readers {
		s := &l.Readers[i]
		kind, ok := takeDeadSlot(&s.State, &s.Start)
		if !ok {
			continue
		}
		if kind == layout.SlotActive && l.Policy == uint32(PolicyBlock) {
			raiseHead(l, s.Cursor.Load())
		}
		s.State.Store(layout.SlotFree)
		wakeWriters(l)
	}
}

// quietFault restores the fault mode and swallows a memory fault (any
// other panic is re-raised).
func quietFault(old bool) {
	debug.SetPanicOnFault(old)
	if rec := recover(); rec != nil {
		faultErr(rec, "", "")
	}
}
