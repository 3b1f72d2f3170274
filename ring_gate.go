package shmbuf

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// Retention. Records stay in the ring until a writer needs their space:
// reading, closing a reader and a reader's death discard nothing. Writers
// claim only below Head plus the capacity, and move Head (walk) over whole
// published records only as far as a claim needs, plus a sixteenth of the
// capacity so that walks are rare. Under PolicyOverwrite nothing else
// bounds the walk. Under PolicyBlock the walk never passes the gate: the
// lower of ReadMark (every record before it was read by some reader) and
// the published cursor of every live reader. So a record nobody has read
// is never overwritten (with no reader ever attached the ring fills and
// writers wait), nor one that a live reader has yet to read.
//
// A reader attaching may have loaded Head before a walk moved it: it
// stores its cursor, becomes active, then loads Head again and moves its
// cursor up to it (Reader.attach). A writer therefore takes its limit
// from Head and then from the cursors it scans after that load (room): if
// its scan missed the new reader, the reader became active after the
// scan, hence after the writer loaded Head, and its second load of Head
// sees at least that value; if the scan saw it, the limit is at or below
// its cursor. Either way no writer claims space that the reader will read.
// The walker loads its own new Head the same way, after storing it.

// makeRoom waits until the claim ending at end fits, and refreshes the
// writer's cached limit.
func (w *Writer) makeRoom(ctx context.Context, end uint64) error {
	l := w.l
	block := l.Policy == uint32(PolicyBlock)
	w.ws.reset()
	for {
		if lim := room(l); end <= lim {
			w.limit = lim
			return nil
		}
		bound := ^uint64(0)
		if block {
			bound = reusable(l)
		}
		walked, err := w.walk(end-l.Capacity, bound)
		if err != nil {
			return err
		}
		if lim := room(l); end <= lim {
			w.limit = lim
			return nil
		}
		// Policy block, after a walk of our own: the space is not read
		// yet, or a reader still needs it; sleep until a reader moves.
		// Otherwise another writer holds the walk token, or (policy
		// overwrite) its record at Head is still being copied, or its
		// writer died: nap, then look again.
		var word, waiters *atomic.Uint32
		var blocked func() bool
		if block && walked {
			w.flushCounters()
			word, waiters = &l.Ctl.SpaceWake, &l.Ctl.WriterWaiters
			blocked = func() bool { return end > reusable(l)+l.Capacity && !w.calls.closing() }
		}
		due, err := w.ws.pause(ctx, w.wait, word, waiters, blocked)
		if w.calls.closing() {
			return w.closedErr()
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return wrapErr("write", w.r.addr, ErrTruncated, err)
		}
		if due {
			corrupt, suspect := w.ws.confirm(w.check(end))
			if corrupt != nil {
				return corrupt
			}
			if !suspect {
				if block {
					w.r.reapReaders()
				}
				w.r.reapWriters()
				w.stealToken()
			}
		}
	}
}

// room returns how far writers may claim now: the capacity past floor.
func room(l *layout.Ring) uint64 { return floor(l) + l.Capacity }

// floor returns the lowest position writers must not overwrite yet: Head
// and, under PolicyBlock, every live reader's cursor, scanned after Head
// was loaded (see Retention for why in this order).
func floor(l *layout.Ring) uint64 {
	h := l.Ctl.Head.Load()
	if l.Policy == uint32(PolicyBlock) {
		if m, ok := minCursor(l); ok && m < h {
			h = m
		}
	}
	return h
}

// reusable returns the gate of policy block: the position below which
// every record was read by some reader and is needed by no live reader,
// so that Head may move up to it.
func reusable(l *layout.Ring) uint64 {
	g := l.Ctl.ReadMark.Load()
	if m, ok := minCursor(l); ok && m < g {
		g = m
	}
	return g
}

// minCursor is the smallest cursor of the active readers.
func minCursor(l *layout.Ring) (uint64, bool) {
	m, ok := ^uint64(0), false
	for i := range l.Readers {
		s := &l.Readers[i]
		// Partner: the reader's State store after its Cursor store.
		if layout.SlotStateOf(s.State.Load()) != layout.SlotActive {
			continue
		}
		ok = true
		if c := s.Cursor.Load(); c < m {
			m = c
		}
	}
	return m, ok
}

var errWalkCorrupt = errors.New("record header out of bounds")

// walk advances Head over whole published records to at least target if
// it can, plus a sixteenth of the ring so that walks are rare, passing no
// record that ends past bound (the gate of policy block; no bound under
// overwrite). Only the holder of the walk token moves Head, so Head stays
// on a record boundary and the triple (Head, records, bytes) stays
// consistent; the token is never held across a wait. took reports whether
// this writer held the token.
func (w *Writer) walk(target, bound uint64) (took bool, err error) {
	l := w.l
	ctl := l.Ctl
	me := w.idx + 1
	// Partner: the token release below, and stealToken.
	if !ctl.WalkToken.CompareAndSwap(0, me) {
		return false, nil
	}
	defer ctl.WalkToken.CompareAndSwap(me, 0)
	// The triple, not Head: a walker that died between its HeadGen and
	// Head stores left Head behind the triple.
	g := ctl.HeadGen.Load()
	c := &ctl.HeadCopy[g&1]
	pos, recs, byts := c.Pos.Load(), c.Records.Load(), c.Bytes.Load()
	start := pos
	goal := target
	if tail := ctl.Tail.Load(); goal < tail {
		goal = min(target+l.Capacity/16, tail)
	}
	goal = min(goal, bound)
	last := ^uint64(0) // the length of the record before pos
scan:
	for pos < goal {
		v := l.RecordAt(pos)
		switch v.Found {
		case layout.FoundNothing:
			break scan // claimed, not yet published
		case layout.FoundBad:
			return true, wrapErr("write", w.r.addr, ErrCorrupt, fmt.Errorf("%w at position %d", errWalkCorrupt, pos))
		}
		if pos+v.Size > bound {
			break // a record a reader still needs, or nobody has read
		}
		pos += v.Size
		if v.Found != layout.FoundRecord {
			continue
		}
		recs++
		byts += v.Len
		if v.Len != last {
			last = v.Len
			continue
		}
		// Two records of one length in a row: the rest of their run in
		// one step (a batch, or a stream of equal records): the records
		// starting before goal and ending by bound. A wrapped end takes
		// none.
		k := l.Run(pos, uint32(v.Len), min(bound, goal+v.Size-1))
		pos += k * v.Size
		recs += k
		byts += k * v.Len
	}
	if pos == start {
		if ctl.Head.Load() != pos {
			ctl.Head.Store(pos) // after a walker that died before its Head store
		}
		return true, nil
	}
	// Fill the copy readers are not pointed at, then flip, then move
	// Head. Partners: the loads in headTriple and the Head checks of
	// overwrite-policy readers and of observers.
	nc := &ctl.HeadCopy[(g+1)&1]
	nc.Pos.Store(pos)
	nc.Records.Store(recs)
	nc.Bytes.Store(byts)
	ctl.HeadGen.Store(g + 1)
	// Partner: readers attaching (Reader.attach), lapped readers and
	// observers; writers claim only behind the new Head, and room loads
	// it before scanning the cursors.
	ctl.Head.Store(pos)
	return true, nil
}

// stealToken takes the walk token from a writer that died holding it.
func (w *Writer) stealToken() {
	ctl := w.l.Ctl
	tok := ctl.WalkToken.Load()
	if tok == 0 || tok > uint64(len(w.l.Writers)) {
		if tok != 0 {
			ctl.WalkToken.CompareAndSwap(tok, 0)
		}
		return
	}
	s := &w.l.Writers[tok-1]
	if layout.SlotStateOf(s.State.Load()) == layout.SlotFree || !w.r.peerAlive(&s.State, &s.Start, &s.Owner, layout.WriterLock(int(tok-1))) {
		ctl.WalkToken.CompareAndSwap(tok, 0)
	}
}
