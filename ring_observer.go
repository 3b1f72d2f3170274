package shmbuf

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/shmbuf/shmbuf/internal/futex"
	"github.com/shmbuf/shmbuf/internal/layout"
)

// Observers read a ring without registering (Aeron calls them spies). An
// observer takes no reader slot and stores nothing in the segment, so it
// needs only read permission (OpenRingReadOnly maps the ring read-only)
// and never holds writers back: under either policy writers may reuse
// the space of records it has not read yet. It reads like a reader of an
// overwrite ring: it copies each record out and then checks Head, which
// writers move past a record before they reuse its space; a record
// reached meanwhile is never returned but counted, exactly, with the
// records before it, in a *LostError, from the (Head, records, bytes)
// triple that writers keep under both policies.
//
// It cannot register as a waiter either (that is a store), so writers do
// not wake it: once its wait strategy has spun, it sleeps on the ring's
// wake-up word with a timeout that grows to observerNapMax, and wakes
// earlier only when writers wake registered readers. And it cannot reap
// dead writers: on a read-only ring it relies on the ring's readers and
// writers to do so (a writer that died without closing leaves the stream
// open until one of them notices).

// observerNapMax bounds an observer's sleep: how late it may see a record
// on a quiet ring when nobody wakes it.
const observerNapMax = 20 * time.Millisecond

// OpenRingReadOnly opens an existing ring with read access only (the file
// opened O_RDONLY and mapped PROT_READ, a System V segment attached
// read-only), for observers: NewReader, NewWriter and Reap refuse it with
// ErrReadOnly. It validates the header as OpenRing does.
func OpenRingReadOnly(addr string) (*Ring, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	seg, err := openSegment(a, true)
	if err != nil {
		return nil, err
	}
	return newRing(seg, true)
}

// ObserverOptions controls NewObserver.
type ObserverOptions struct {
	// Wait is how the observer waits for records (see Observer).
	Wait WaitStrategy
	// From is where the observer starts.
	From StartPosition
}

// Observer reads every record of a ring from its own cursor, like a
// Reader, without taking a reader slot or writing to the ring: it needs
// only read permission and never holds writers back, so writers may
// overwrite records before it reads them, under either policy. Next then
// returns a *LostError with the exact number of records and bytes it
// missed, and continues from the oldest record still in the ring.
//
// Next returns copies, checked after the copy like those of a Reader of
// an overwrite ring. Waiting, an observer sleeps at most 20 ms at a time,
// since writers do not wake it; it sees a record that late at worst on a
// quiet ring. It does not reap dead writers on a ring opened read-only.
//
// An Observer is for one goroutine at a time, except Close, which may be
// called from any goroutine (a call in progress returns ErrClosed).
type Observer struct {
	r    *Ring
	l    *layout.Ring
	wait WaitStrategy

	// pos is the position of the next record; recs and byts count the
	// records and payload bytes before it, in the numbering of the Head
	// triple, so that a loss is exact.
	pos, recs, byts uint64
	ended           uint64 // the End word last reported (see Reader.ended)
	buf             []byte
	nap             time.Duration
	calls           callGate
	ws              waitState
}

// NewObserver starts an observer at the oldest record still in the ring
// or after the newest, as o.From says.
func (r *Ring) NewObserver(o ObserverOptions) (ob *Observer, err error) {
	if err := r.hold("observer"); err != nil {
		return nil, err
	}
	defer r.release()
	if o.Wait < WaitAdaptive || o.Wait > WaitBlock || o.From < FromOldest || o.From > FromLatest {
		return nil, wrapErr("observer", r.addr, ErrInvalidArgument, fmt.Errorf("unknown wait strategy %d or start %d", o.Wait, o.From))
	}
	defer faultGuard(&err, "observer", r.addr, nil, nil, debug.SetPanicOnFault(true))
	ob = &Observer{r: r, l: r.l, wait: o.Wait}
	ob.pos, ob.recs, ob.byts = headTriple(r.l)
	if o.From == FromLatest {
		ob.pos, ob.recs, ob.byts = skipToTail(r.l, ob.pos, ob.recs, ob.byts)
	}
	r.mu.Lock()
	r.observers[ob] = struct{}{}
	r.mu.Unlock()
	return ob, nil
}

// Next returns a copy of the next record's payload, waiting for one as
// the wait strategy says, until ctx ends. The slice is valid until the
// next call on ob. At the end of the stream it returns io.EOF (or
// ErrWriterLost), and a call after that waits for the next stream; when
// writers overwrote records before ob read them, a *LostError counts
// them, and the next call continues from the oldest record still there.
func (ob *Observer) Next(ctx context.Context) ([]byte, error) { return ob.next(ctx, true) }

// TryNext is Next without waiting: ErrEmpty when no record is ready.
func (ob *Observer) TryNext() ([]byte, error) { return ob.next(context.Background(), false) }

func (ob *Observer) next(ctx context.Context, block bool) (rec []byte, err error) {
	if !ob.calls.enter() {
		return nil, ob.closedErr()
	}
	done := false
	defer faultGuard(&err, "read", ob.r.addr, &ob.calls, &done, debug.SetPanicOnFault(true))
	for waited := false; ; waited = true {
		rec, ok, err := ob.take()
		if err != nil {
			return nil, err
		}
		if ok {
			done = true
			return rec, nil
		}
		p, e := ob.pos, ob.l.Ctl.End.Load()
		if endsHere(ob.l, p, e, ob.ended) {
			ob.ended = e
			return nil, endErr(ob.r.addr, e)
		}
		if !block {
			if err := holeErr(ob.l, p, ob.r.addr); err != nil {
				return nil, err
			}
			return nil, wrapErr("read", ob.r.addr, ErrEmpty, nil)
		}
		if !waited {
			ob.ws.reset()
			ob.nap = 0
		}
		if err := ob.waitAt(ctx, p, e); err != nil {
			return nil, err
		}
	}
}

// take copies the record at the cursor and moves past it, skipping pads
// and the gap at the end of a lap; ok is false when nothing is published
// there yet. A Head past the record, before or after the copy, means a
// writer may have reused its space: the record is counted as lost.
// Partner: the walker's Head store, made before any writer may claim the
// space at p.
func (ob *Observer) take() (rec []byte, ok bool, err error) {
	l := ob.l
	for {
		p := ob.pos
		v := l.RecordAt(p)
		switch v.Found {
		case layout.FoundGap, layout.FoundPad:
			ob.pos = p + v.Size
			continue
		case layout.FoundBad:
			if l.Ctl.Head.Load() > p {
				return nil, false, ob.lapped(p + 1)
			}
			return nil, false, wrapErr("read", ob.r.addr, ErrCorrupt, fmt.Errorf("record at position %d has length %d (max record %d)", p, v.Len, l.MaxRecord))
		}
		if l.Ctl.Head.Load() > p {
			return nil, false, ob.lapped(p + 1)
		}
		if v.Found == layout.FoundNothing {
			return nil, false, nil
		}
		if uint64(cap(ob.buf)) < v.Len {
			ob.buf = make([]byte, min(max(v.Len, 2*uint64(cap(ob.buf)), 256), l.MaxRecord))
		}
		rec = ob.buf[:v.Len:v.Len]
		start := v.Off + layout.RecordHdrSize
		copy(rec, l.Data[start:start+v.Len])
		if l.Ctl.Head.Load() > p {
			return nil, false, ob.lapped(p + 1)
		}
		ob.pos = p + v.Size
		ob.recs++
		ob.byts += v.Len
		return rec, true, nil
	}
}

// lapped moves the observer to Head and reports what it missed. It does
// not count an overrun in the ring: an observer stores nothing there.
func (ob *Observer) lapped(past uint64) error {
	return resync(ob.l, ob.r.addr, past, &ob.pos, &ob.recs, &ob.byts)
}

// waitAt waits once at p, where nothing is published and e was the end
// of stream: a spin step by the strategy, then sleeps on the readers'
// wake-up word, unregistered, each up to twice as long as the one before
// (at most observerNapMax). At the periodic tick it checks the ring's
// sanity and, on a ring opened for writing, reaps dead writers.
func (ob *Observer) waitAt(ctx context.Context, p, e uint64) error {
	l := ob.l
	var due bool
	var err error
	if ob.wait == WaitSpin || (ob.wait == WaitAdaptive && ob.nap == 0 && !ob.spunOut()) {
		due, err = ob.ws.pause(ctx, WaitSpin, nil, nil, nil)
	} else {
		ob.nap = min(max(2*ob.nap, 50*time.Microsecond), observerNapMax)
		v := l.Ctl.DataWake.Load()
		if ob.idle(p, e) {
			err = futex.Wait(&l.Ctl.DataWake, v, ob.nap)
		}
		if err == nil {
			err = ctxErr(ctx)
		}
		due = ob.ws.due(time.Now())
	}
	if ob.calls.closing() {
		return ob.closedErr()
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return wrapErr("read", ob.r.addr, ErrTruncated, err)
	}
	if due {
		corrupt, suspect := ob.ws.confirm(ob.check(p))
		if corrupt != nil {
			return corrupt
		}
		if !suspect && !ob.r.readOnly {
			ob.r.reapWriters()
		}
	}
	return nil
}

// spunOut reports whether an adaptive wait has spun for spinFor: from
// then on it sleeps.
func (ob *Observer) spunOut() bool {
	s := &ob.ws
	if s.since.IsZero() {
		return false
	}
	return time.Since(s.since) >= spinFor
}

// idle reports whether nothing changed at p since the observer looked.
func (ob *Observer) idle(p, end uint64) bool {
	l := ob.l
	return l.RecordAt(p).Found == layout.FoundNothing && l.Ctl.End.Load() == end && !ob.calls.closing() &&
		!endsAt(l, p, end, ob.ended) && l.Ctl.Head.Load() <= p
}

// check is the observer's sanity check while it waits at p.
func (ob *Observer) check(p uint64) error { return checkCursor(ob.l, p, "observer", ob.r.addr) }

func (ob *Observer) closedErr() error { return wrapErr("read", ob.r.addr, ErrClosed, nil) }

// Close ends the observer. A call in progress on another goroutine ends
// with ErrClosed first (within one sleep of the observer's); Close
// returns once it has.
func (ob *Observer) Close() error { return ob.endClose(ob.beginClose()) }

func (ob *Observer) beginClose() (first bool) {
	first, _ = ob.calls.shut()
	return first
}

func (ob *Observer) endClose(first bool) error {
	if !first {
		ob.calls.waitFinished()
		return nil
	}
	ob.calls.drain()
	ob.calls.finish()
	ob.r.mu.Lock()
	delete(ob.r.observers, ob)
	ob.r.mu.Unlock()
	return nil
}
