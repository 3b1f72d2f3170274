package shmbuf

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// makeRoom waits until the claim ending at end fits, and refreshes the
// writer's cached limit.
func (w *Writer) makeRoom(ctx context.Context, end uint64) error {
	l := w.l
	w.ws.reset()
	for {
		if l.Policy == uint32(PolicyOverwrite) {
			if h := l.Ctl.Head.Load(); end <= h+l.Capacity {
				w.limit = h + l.Capacity
				return nil
			}
			if _, err := w.walk(end - l.Capacity); err != nil {
				return err
			}
			if h := l.Ctl.Head.Load(); end <= h+l.Capacity {
				w.limit = h + l.Capacity
				return nil
			}
			// Another writer's record at Head is still being copied
			// (or its writer died): nap, then check again.
			due, err := w.ws.pause(ctx, w.wait, nil, nil, nil)
			if w.calls.closing() {
				return w.closedErr()
			}
			if err != nil {
				return err
			}
			if due {
				corrupt, suspect := w.ws.confirm(w.check(end))
				if corrupt != nil {
					return corrupt
				}
				if !suspect {
					w.r.reapWriters()
					w.stealToken()
				}
			}
			continue
		}
		if g := gate(l); end <= g+l.Capacity {
			w.limit = g + l.Capacity
			return nil
		}
		w.flushCounters()
		due, err := w.ws.pause(ctx, w.wait, &l.Ctl.SpaceWake, &l.Ctl.WriterWaiters,
			func() bool { return end > gate(l)+l.Capacity && !w.calls.closing() })
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
				w.r.reapReaders()
				w.r.reapWriters()
			}
		}
	}
}

// gate returns the position below which writers may reuse space (policy
// block): the slowest live reader's published cursor, or Head when no
// reader is attached, so that the ring fills and waits for the first one.
//
// Head is raised to the slowest reader, then the slots are scanned again:
// a reader attaching meanwhile stores its cursor, then loads Head; if it
// loaded Head before our raise, the second scan sees its cursor, and if
// after, it moves its cursor up to the new Head. Either way no space it
// may still read is handed out.
func gate(l *layout.Ring) uint64 {
	head := l.Ctl.Head.Load()
	m, ok := minCursor(l)
	if !ok {
		return head
	}
	if m > head {
		raiseHead(l, m)
		if m2, ok := minCursor(l); ok && m2 < m {
			m = m2
		}
	}
	return m
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

// raiseHead moves Head up to p (never down).
func raiseHead(l *layout.Ring, p uint64) {
	for {
		h := l.Ctl.Head.Load()
		if h >= p || l.Ctl.Head.CompareAndSwap(h, p) {
			return
		}
	}
}

var errWalkCorrupt = errors.New("record header out of bounds")

// walk advances Head (policy overwrite) to at least target, or as far as
// the published records allow, plus an eighth of the ring's worth so that
// walks are rare. Only the holder of the walk token moves Head, so the
// triple (Head, records, bytes) stays consistent; the token is never held
// across a wait.
func (w *Writer) walk(target uint64) (bool, error) {
	l := w.l
	ctl := l.Ctl
	me := w.idx + 1
	// Partner: the token release below, and stealToken.
	if !ctl.WalkToken.CompareAndSwap(0, me) {
		return false, nil
	}
	defer ctl.WalkToken.CompareAndSwap(me, 0)
	g := ctl.HeadGen.Load()
	c := &ctl.HeadCopy[g&1]
	pos, recs, byts := c.Pos.Load(), c.Records.Load(), c.Bytes.Load()
	start := pos
	goal := target
	if tail := ctl.Tail.Load(); goal < tail {
		goal = min(target+l.Capacity/16, tail)
	}
scan:
	for pos < goal {
		v := l.RecordAt(pos)
		switch v.Found {
		case layout.FoundNothing:
			break scan // claimed, not yet published
		case layout.FoundBad:
			return false, wrapErr("write", w.r.addr, ErrCorrupt, fmt.Errorf("%w at position %d", errWalkCorrupt, pos))
		case layout.FoundRecord:
			recs++
			byts += v.Len
		}
		pos += v.Size
	}
	if pos != start {
		// Fill the copy readers are not pointed at, then flip, then
		// move Head. Partners: the reader's loads in headTriple and its
		// Head checks; writers claim only behind the new Head.
		nc := &ctl.HeadCopy[(g+1)&1]
		nc.Pos.Store(pos)
		nc.Records.Store(recs)
		nc.Bytes.Store(byts)
		ctl.HeadGen.Store(g + 1)
		ctl.Head.Store(pos)
	}
	return pos >= target, nil
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
