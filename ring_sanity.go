package shmbuf

import (
	"fmt"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// Sanity checks bound every wait on a ring. A waiter trusts the control
// words (Tail, Head, End, the slots) to tell it when to stop waiting; a
// peer that overwrote one with garbage could make it wait forever. At its
// periodic check tick (not on the fast path) every wait loop calls
// checkRing and its own check, and ends with ErrCorrupt when a position,
// count or state cannot be right.
//
// Each comparison loads the value that may only grow after the one it
// must not exceed (or before the one it must stay within reach of), so a
// stream moving on between two loads never fails a check. A failure must
// also be seen again at the next tick (confirm): corruption stays, while a
// state that other processes pass through between two of our loads (a
// slot changing hands) does not.

// maxStartTicks bounds a process start time (clock ticks since boot, 100
// a second): 2^40 ticks are more than 300 years. A larger value in a
// slot is not a start time.
const maxStartTicks = 1 << 40

// corruptf is the error of a failed sanity check.
func corruptf(op, addr, format string, args ...any) error {
	return wrapErr(op, addr, ErrCorrupt, fmt.Errorf(format, args...))
}

// confirm turns the result of a tick's checks into the wait's verdict: a
// failure ends the wait only when the previous tick failed too. suspect
// reports a failure awaiting confirmation; the caller then skips its
// reaping, which would erase the evidence (a reaper frees a slot whose
// garbage start time it takes for a dead owner's).
func (s *waitState) confirm(err error) (corrupt error, suspect bool) {
	if err == nil {
		s.suspect = false
		return nil, false
	}
	if s.suspect {
		return err, true
	}
	s.suspect = true
	return nil, true
}

// checkRing checks the control words every waiter depends on: the
// positions (8-aligned, Head within one capacity of Tail and not past
// it, ReadMark between them), the end of stream, the Head triple of policy overwrite, and the
// slots (known states, plausible start times, reader cursors the writers
// could have respected).
func checkRing(l *layout.Ring, op, addr string) error {
	ctl := l.Ctl
	h := ctl.Head.Load()
	rm := ctl.ReadMark.Load()
	e := ctl.End.Load()
	t := ctl.Tail.Load()
	h2 := ctl.Head.Load()
	switch {
	case t%layout.RecordAlign != 0:
		return corruptf(op, addr, "tail %#x is not a record position", t)
	case h%layout.RecordAlign != 0:
		return corruptf(op, addr, "head %#x is not a record position", h)
	case h > skipGap(l, t):
		return corruptf(op, addr, "head %d is past tail %d", h, t)
	case t > h2 && t-h2 > l.Capacity:
		// Writers claim only within one capacity of Head.
		return corruptf(op, addr, "tail %d is more than the capacity %d past head %d", t, l.Capacity, h2)
	}
	if l.Policy == uint32(PolicyBlock) {
		// Head never passes ReadMark, which readers raise only to
		// cursors they published.
		switch {
		case rm%layout.RecordAlign != 0:
			return corruptf(op, addr, "read mark %#x is not a record position", rm)
		case rm < h:
			return corruptf(op, addr, "read mark %d is behind head %d", rm, h)
		case rm > skipGap(l, t):
			return corruptf(op, addr, "read mark %d is past tail %d", rm, t)
		}
	}
	if e != 0 {
		cause, pos := e&layout.EndMask, e&^layout.EndMask
		if cause < layout.EndEOF || cause > layout.EndAborted {
			return corruptf(op, addr, "end of stream %#x has an unknown cause", e)
		}
		if pos > skipGap(l, t) {
			return corruptf(op, addr, "end of stream at %d is past tail %d", pos, t)
		}
	}
	if err := checkHeadTriple(l, op, addr); err != nil {
		return err
	}
	for i := range l.Writers {
		s := &l.Writers[i]
		if err := checkSlot(s.State.Load(), s.Start.Load(), "writer", i, op, addr); err != nil {
			return err
		}
	}
	for i := range l.Readers {
		s := &l.Readers[i]
		ta := ctl.Tail.Load()
		st := s.State.Load()
		if err := checkSlot(st, s.Start.Load(), "reader", i, op, addr); err != nil {
			return err
		}
		if layout.SlotStateOf(st) != layout.SlotActive {
			continue
		}
		c := s.Cursor.Load()
		tb := ctl.Tail.Load()
		switch {
		case c%layout.RecordAlign != 0 || c > skipGap(l, tb):
			return corruptf(op, addr, "reader slot %d: cursor %#x is not a position up to tail %d", i, c, tb)
		case l.Policy == uint32(PolicyBlock) && ta > c && ta-c > l.Capacity:
			// Under policy block writers never pass a live reader's
			// cursor by more than the capacity.
			return corruptf(op, addr, "reader slot %d: cursor %d is more than the capacity %d behind tail %d", i, c, l.Capacity, ta)
		}
	}
	return nil
}

// checkHeadTriple checks the (position, records, bytes) of Head: the
// walker stores the triple before Head, so the
// triple is never behind Head, and every record counted took a header and
// its payload of the positions before it.
func checkHeadTriple(l *layout.Ring, op, addr string) error {
	h := l.Ctl.Head.Load()
	pos, recs, byts := headTriple(l)
	t := l.Ctl.Tail.Load()
	switch {
	case pos%layout.RecordAlign != 0 || pos < h || pos > skipGap(l, t):
		return corruptf(op, addr, "head triple at %#x, head %d, tail %d", pos, h, t)
	case recs > pos/layout.RecordHdrSize || byts > pos-recs*layout.RecordHdrSize:
		return corruptf(op, addr, "head triple counts %d records of %d bytes before position %d", recs, byts, pos)
	}
	return nil
}

// checkSlot checks one slot's State word and start time.
func checkSlot(state, start uint64, what string, i int, op, addr string) error {
	if !layout.SlotStateValid(state) {
		return corruptf(op, addr, "%s slot %d: state %#x", what, i, state)
	}
	if state != layout.SlotFree && start >= maxStartTicks {
		return corruptf(op, addr, "%s slot %d: start time %#x", what, i, start)
	}
	return nil
}

// holeErr reports a hole at p: a position below Tail where nothing is
// published while no writer is attached. Every claim below Tail is then
// published or padded, since a writer publishes or pads its claim before
// its slot is freed, and a reaper pads a dead writer's before freeing
// it; so only lost memory leaves a hole: a file: ring after a crash of
// the machine, whose pages reached the disk in no particular order, or a
// corrupt segment. A reader at a hole would wait for ever. The order of
// the loads (Tail, the writer slots, the record, Head) makes the test
// sound: a writer attaching after the scan claims at or past that Tail.
// Under PolicyOverwrite a Head past p is a lap, not a hole.
func holeErr(l *layout.Ring, p uint64, addr string) error {
	t := l.Ctl.Tail.Load()
	if p >= skipGap(l, t) || writersAttached(l) || l.RecordAt(p).Found != layout.FoundNothing || l.Ctl.Head.Load() > p {
		return nil
	}
	return corruptf("read", addr, "nothing is published at position %d, below the tail %d, and no writer is attached: records were lost (a crash of the machine before they reached the disk?)", p, t)
}

// ownState is the State word of the slot rd holds active.
func (rd *Reader) ownState() uint64 {
	return layout.SlotState(rd.gen, proc.Self().Pid, layout.SlotActive)
}

// ownState is the State word of the slot w holds active.
func (w *Writer) ownState() uint64 {
	return layout.SlotState(w.gen, proc.Self().Pid, layout.SlotActive)
}

// checkOwnSlot reports a slot of ours that no longer names us (own is its
// State word while we hold it): only corruption changes it while we hold
// it, since a reaper frees a slot only on proof that its owner died.
func checkOwnSlot(state, start, own uint64, what, op, addr string) error {
	if state != own || start != proc.Self().Start {
		return corruptf(op, addr, "our %s slot changed under us: state %#x, start time %#x", what, state, start)
	}
	return nil
}

// check is the reader's sanity check, made while it waits at position p.
func (rd *Reader) check(p uint64) error {
	op, addr := "read", rd.r.addr
	if err := checkCursor(rd.l, p, "reader", addr); err != nil {
		return err
	}
	return checkOwnSlot(rd.slot.State.Load(), rd.slot.Start.Load(), rd.ownState(), "reader", op, addr)
}

// checkCursor is the check of a reader or an observer (who) waiting at
// position p: a sane ring, p not past Tail, no hole at p.
func checkCursor(l *layout.Ring, p uint64, who, addr string) error {
	if err := checkRing(l, "read", addr); err != nil {
		return err
	}
	if t := l.Ctl.Tail.Load(); p > skipGap(l, t) {
		return corruptf("read", addr, "%s waits at %d, past tail %d", who, p, t)
	}
	return holeErr(l, p, addr)
}

// check is the writer's sanity check, made while it waits for space for a
// claim ending at end: space the ring could never give (more than a
// capacity past Tail) is not worth waiting for.
func (w *Writer) check(end uint64) error {
	op, addr := "write", w.r.addr
	if err := checkRing(w.l, op, addr); err != nil {
		return err
	}
	if t := w.l.Ctl.Tail.Load(); end > skipGap(w.l, t)+w.l.Capacity {
		return corruptf(op, addr, "writer waits for space up to %d, more than the capacity past tail %d", end, t)
	}
	return checkOwnSlot(w.slot.State.Load(), w.slot.Start.Load(), w.ownState(), "writer", op, addr)
}
