package shmbuf

import (
	"github.com/shmbuf/shmbuf/internal/layout"
	"runtime/debug"
)

// reapWriters frees the slots of dead writers (see takeDead for the
// proof). A dead writer's claim that was never published is turned into
// padding first, so readers waiting at it move on. A writer that died
// active ends the stream with ErrWriterLost once no writer slot is taken;
// one that died while attaching wrote nothing and ends nothing.
//
// Every step may be repeated by a later reaper if this one dies: pads are
// published only where no record is, the counters are moved with a swap,
// and End only moves forward.
func (r *Ring) reapWriters() {
	// A reaper touching a truncated segment gives up quietly; the
	// caller's own access reports ErrTruncated.
	defer faultGuard(nil, "", "", nil, nil, debug.SetPanicOnFault(true))
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	l := r.l
	for i := range l.Writers {
		s := &l.Writers[i]
		lock := layout.WriterLock(i)
		st, ok := r.takeDead(&s.State, &s.Start, &s.Owner, lock)
		if !ok {
			continue
		}
		active := layout.SlotStateOf(st) != layout.SlotAttaching
		if active {
			r.unblockClaim(i)
		}
		l.Ctl.ClosedRecords.Add(s.Records.Swap(0))
		l.Ctl.ClosedBytes.Add(s.Bytes.Swap(0))
		if tok := l.Ctl.WalkToken.Load(); tok == uint64(i)+1 {
			l.Ctl.WalkToken.CompareAndSwap(tok, 0)
		}
		if active {
			endStream(l, layout.EndLost)
		}
		// Partner: writersAttached in readers, after the End store above.
		s.State.Store(freeState(st))
		r.releaseDead(lock)
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
	// Partner: the owner's stores before its CAS on Tail.
	c := s.Claim.Load()
	n := s.ClaimLen.Load()
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
		if l.RecordAt(p).Found == layout.FoundNothing {
			pending[k] = true
			anyPending = true
		}
	}
	if !anyPending {
		return
	}
	if t < floor(l) {
		return
	}
	for j := range l.Writers {
		o := &l.Writers[j]
		// Partner: the live writer's Claim store before its CAS on Tail.
		if j != i && layout.SlotStateOf(o.State.Load()) == layout.SlotActive && o.Claim.Load() == c {
			return
		}
	}
	for k := 0; k < np; k++ {
		if pending[k] {
			publishPad(l, pieces[k][0], pieces[k][1], uint64(i))
		}
	}
}

// reapReaders frees the slots of dead readers (see takeDead for the
// proof), as if they had closed, and wakes writers waiting for the space
// they held. What a dead reader read counts as read up to the cursor it
// last published, which raised ReadMark then.
func (r *Ring) reapReaders() {
	// Quietly, as reapWriters does.
	defer faultGuard(nil, "", "", nil, nil, debug.SetPanicOnFault(true))
	r.reapMu.Lock()
	defer r.reapMu.Unlock()
	l := r.l
	for i := range l.Readers {
		s := &l.Readers[i]
		lock := layout.ReaderLock(i)
		st, ok := r.takeDead(&s.State, &s.Start, &s.Owner, lock)
		if !ok {
			continue
		}
		s.State.Store(freeState(st))
		r.releaseDead(lock)
		wakeWriters(l)
	}
}
