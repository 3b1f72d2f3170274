package shmbuf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// ReaderOptions controls NewReader.
type ReaderOptions struct {
	// Wait is how the reader waits for records.
	Wait WaitStrategy
	// From is where the reader starts.
	From StartPosition
}

// Reader reads every record of a ring from its own cursor.
//
// Next returns one record at a time; Read and WriteTo give the
// concatenated payloads as a byte stream. End of stream (the last writer
// closed and every record before it was read) is io.EOF; a call after
// io.EOF waits for the next stream on the same ring.
//
// When a slice from Next may be trusted: until the next call on the
// Reader (Next, NextInPlace, TryNext, Read, WriteTo or Close) or the
// Ring's Close, whatever the policy. Under PolicyBlock it points into the
// shared ring (zero-copy): writers never reuse space that a live reader
// has not passed. Under PolicyOverwrite writers do not wait for readers,
// so Next copies the record into a buffer the Reader owns and checks after
// the copy that no writer reached it: a record overwritten meanwhile is
// counted in the next *LostError, never returned. NextInPlace is the
// zero-copy call for overwrite rings, whose records must be checked with
// Verify after use.
//
// A Reader is for one goroutine at a time: its methods must not be called
// concurrently with each other, except Close, which may be called from
// any goroutine to end a call in progress (it returns ErrClosed), as the
// Ring's Close does. Several Readers, in any processes, may read one ring
// at once.
type Reader struct {
	r    *Ring
	l    *layout.Ring
	slot *layout.ReaderSlot
	gen  uint32   // the generation of the slot's State this reader took
	lf   *os.File // file-backed: the description holding the slot's lock
	lock int64    // the offset of the slot's lock byte
	wait WaitStrategy

	pos       uint64 // position of the next record
	published uint64 // the cursor last stored in the slot
	batch     uint64 // publish the cursor after this many bytes

	// start is where the reader started (policy block); marking is set
	// once ReadMark was found at or past it, from when the reader raises
	// ReadMark (see markRead).
	start   uint64
	marking bool
	// ended is the End word of the end of stream last reported at the
	// cursor: Next does not report it again, but waits for the next
	// stream.
	ended uint64

	// recs and byts count the records and payload bytes before pos, in
	// the numbering of the Head triple (policy overwrite), so that a
	// lapped reader's loss is exact.
	recs, byts uint64
	overwrite  bool

	cur    uint64 // position of the record last returned
	curLen uint64
	// inPlace reports that the record last returned lies in the ring of
	// an overwrite policy ring, where Verify must check it.
	inPlace bool
	rest    []byte   // the part of that record Read has not returned
	buf     []byte   // Next's copies under PolicyOverwrite: the largest record seen
	wbuf    []byte   // WriteTo's gathered records
	wrecs   [][]byte // WriteTo's batch
	calls   callGate
	ws      waitState
}

// NewReader registers a reader in a free slot. When every slot is held by
// a live reader it fails with ErrReadersFull. On a file-backed ring the
// reader opens the segment file again and holds the slot's lock on that
// description while it is attached, as writers do.
func (r *Ring) NewReader(o ReaderOptions) (rd *Reader, err error) {
	if err := r.holdWritable("reader"); err != nil {
		return nil, err
	}
	defer r.release()
	if o.Wait < WaitAdaptive || o.Wait > WaitBlock || o.From < FromOldest || o.From > FromLatest {
		return nil, wrapErr("reader", r.addr, ErrInvalidArgument, fmt.Errorf("unknown wait strategy %d or start %d", o.Wait, o.From))
	}
	defer faultGuard(&err, "reader", r.addr, nil, nil, debug.SetPanicOnFault(true))
	var lf *os.File
	if r.lf != nil {
		if lf, err = reopenSegment(r.seg); err != nil {
			return nil, err
		}
		defer func() {
			if rd == nil {
				lf.Close()
			}
		}()
	}
	self := proc.Self()
	for try := 0; try < 2; try++ {
		for i := range r.l.Readers {
			s := &r.l.Readers[i]
			st, ok, err := takeSlot(lf, &s.State, layout.ReaderLock(i), self.Pid)
			if err != nil {
				return nil, wrapErr("reader", r.addr, nil, err)
			}
			if !ok {
				continue
			}
			gen := layout.SlotGen(st)
			s.Start.Store(self.Start)
			// Partner: ownerOf's loads (Owner before Start).
			s.Owner.Store(layout.OwnerWord(self.NS, gen))
			rd := &Reader{r: r, l: r.l, slot: s, gen: gen, lf: lf, lock: layout.ReaderLock(i), wait: o.Wait, batch: r.l.Capacity / 8,
				overwrite: r.l.Policy == uint32(PolicyOverwrite)}
			rd.attach(o.From, self)
			r.mu.Lock()
			r.readers[rd] = struct{}{}
			r.mu.Unlock()
			return rd, nil
		}
		r.reapReaders()
	}
	return nil, wrapErr("reader", r.addr, ErrReadersFull, fmt.Errorf("limit %d readers", len(r.l.Readers)))
}

// attach chooses the start position and activates the slot.
func (rd *Reader) attach(from StartPosition, self proc.Identity) {
	l, s := rd.l, rd.slot
	active := layout.SlotState(rd.gen, self.Pid, layout.SlotActive)
	if rd.overwrite {
		rd.pos, rd.recs, rd.byts = headTriple(l)
		if from == FromLatest {
			rd.skipToTail()
		}
		s.Cursor.Store(rd.pos)
		s.State.Store(active)
		rd.published = rd.pos
		return
	}
	p := l.Ctl.Head.Load()
	if from == FromLatest {
		p = l.Ctl.Tail.Load()
	}
	// Store the cursor, become active, then load Head again: a walk
	// that moved Head after our first load either saw this slot active
	// (and claims no space at or past the cursor) or moved Head before
	// this load (see Retention in ring_gate.go). Partner: the writers'
	// State and Cursor loads in minCursor, and the walker's Head store.
	s.Cursor.Store(p)
	s.State.Store(active)
	for {
		h := l.Ctl.Head.Load()
		if h <= p {
			break
		}
		p = h
		s.Cursor.Store(p)
	}
	rd.pos, rd.published, rd.start = p, p, p
}

// headTriple reads Head with its record and byte counts, consistently.
// Partner: the walker's copy stores and HeadGen store.
func headTriple(l *layout.Ring) (pos, recs, byts uint64) {
	for {
		g := l.Ctl.HeadGen.Load()
		c := &l.Ctl.HeadCopy[g&1]
		pos, recs, byts = c.Pos.Load(), c.Records.Load(), c.Bytes.Load()
		if l.Ctl.HeadGen.Load() == g {
			return
		}
	}
}

// skipToTail moves a new overwrite-policy reader over the published
// records up to the tail, counting them, so its loss accounting matches
// the Head triple. It stops early at an unpublished record, and at a
// header it cannot trust, which Next then reports.
func (rd *Reader) skipToTail() {
	rd.pos, rd.recs, rd.byts = skipToTail(rd.l, rd.pos, rd.recs, rd.byts)
}

// skipToTail moves pos, with the counts of the records and bytes before
// it, over the published records up to the tail (see Reader.skipToTail).
func skipToTail(l *layout.Ring, pos, recs, byts uint64) (uint64, uint64, uint64) {
	tail := l.Ctl.Tail.Load()
	for pos < tail {
		p := pos
		rec := l.RecordAt(p)
		if rec.Found == layout.FoundNothing {
			break
		}
		if rec.Found != layout.FoundGap && l.Ctl.Head.Load() > p {
			// The walker passed p: what we decoded may be a later
			// lap's. Resume from its triple.
			hp, hr, hb := headTriple(l)
			if hp <= p {
				break // Head and its triple disagree: Next will report it
			}
			pos, recs, byts = hp, hr, hb
			continue
		}
		if rec.Found == layout.FoundBad {
			break
		}
		if rec.Found == layout.FoundRecord {
			recs++
			byts += rec.Len
		}
		pos += rec.Size
	}
	return pos, recs, byts
}

// Next returns the next record's payload, waiting for one as the wait
// strategy says, until ctx ends.
//
// The slice is valid until the next call on rd (Next, NextInPlace,
// TryNext, Read, WriteTo or Close) or the Ring's Close, like
// bufio.Reader.Peek, and must not be modified. Under PolicyBlock it points
// into the shared ring, whose writers never reuse the space of a record
// that a live reader has not passed (the reader's published cursor stays
// at or before the record until its next call). Under PolicyOverwrite
// writers do not wait, so Next copies the record into a buffer rd owns
// (grown to the largest record seen) and checks, after the copy, that no
// writer had claimed its space: the slice is always a record that was
// written, whole. A record overwritten before or while it was copied is
// counted in the *LostError that Next returns instead.
//
// At the end of the stream Next returns io.EOF, or ErrWriterLost when the
// writers died (or closed with an error); a lapped reader gets a
// *LostError and continues from the oldest record on its next call; a
// Close from another goroutine ends it with ErrClosed; a ring whose
// control words cannot be right ends it with ErrCorrupt.
func (rd *Reader) Next(ctx context.Context) ([]byte, error) {
	return rd.next(ctx, true, !rd.overwrite)
}

// NextInPlace is Next without the copy of PolicyOverwrite: the slice points
// into the shared ring under either policy. Under PolicyOverwrite a writer
// that laps the reader may overwrite those bytes at any moment, even
// before NextInPlace returns, so the caller uses the record, then calls
// Verify, and trusts what it derived from the record only if Verify
// returns nil. Under PolicyBlock it is Next.
func (rd *Reader) NextInPlace(ctx context.Context) ([]byte, error) {
	return rd.next(ctx, true, true)
}

// TryNext is Next without waiting: ErrEmpty when no record is ready.
func (rd *Reader) TryNext() ([]byte, error) {
	return rd.next(context.Background(), false, !rd.overwrite)
}

// Reap frees the slots of writers and readers that died without closing,
// as waiting calls do by themselves every 200 ms: a dead writer's
// unpublished claim is skipped, and when the last writer is found dead the
// stream ends with ErrWriterLost after the records before it. A reader
// that never waits (TryNext until ErrEmpty) calls Reap once when it finds
// nothing, then TryNext again, to tell a stream whose writers are idle
// from one whose writers are gone.
func (r *Ring) Reap() error {
	if err := r.holdWritable("reap"); err != nil {
		return err
	}
	defer r.release()
	r.reapWriters()
	r.reapReaders()
	return nil
}

// next reads the record at the cursor, waiting for it if block is set.
// inPlace returns it where it lies; otherwise (policy overwrite only) it
// is copied into rd.buf and verified.
func (rd *Reader) next(ctx context.Context, block, inPlace bool) (rec []byte, err error) {
	if !rd.calls.enter() {
		return nil, rd.closedErr()
	}
	done := false
	defer faultGuard(&err, "read", rd.r.addr, &rd.calls, &done, debug.SetPanicOnFault(true))
	l := rd.l
	rd.rest, rd.inPlace = nil, false
	// The record returned last time is released now (see publish).
	// Batched, so that writers rarely see the line change.
	if rd.pos-rd.published >= rd.batch {
		rd.publish()
	}
	for waited := false; ; waited = true {
		rec, ok, err := rd.take(inPlace)
		if err != nil {
			return nil, err
		}
		if ok {
			// A take that passed much (pads, aborted claims, a batch
			// read in the same call) leaves the published cursor far
			// behind: publish the returned record's start, which the
			// caller may hold, so that a caller that stops reading
			// holds writers back by this record, not by all it passed.
			if rd.cur-rd.published >= rd.batch {
				rd.publishAt(rd.cur)
			}
			done = true
			return rec, nil
		}
		// Nothing at p: the end of the stream, or wait.
		p, e := rd.pos, l.Ctl.End.Load()
		if rd.endsHere(p, e) {
			if rd.calls.closing() {
				return nil, rd.closedErr() // the Ring's Close ended the stream too
			}
			rd.ended = e
			return nil, rd.endErr(e)
		}
		if rd.pos != rd.published {
			rd.publish() // before waiting or giving up: writers see progress
		}
		if !block {
			if err := holeErr(l, p, rd.r.addr); err != nil {
				return nil, err
			}
			return nil, wrapErr("read", rd.r.addr, ErrEmpty, nil)
		}
		if !waited {
			rd.ws.reset() // only a call that waits pays for the wait state
		}
		if err := rd.waitAt(ctx, p, e); err != nil {
			return nil, err
		}
	}
}

// take returns the record at the cursor and moves the cursor past it,
// skipping pads and the gap at the end of a lap. ok is false, with the
// cursor at the first position holding nothing yet, when no record is
// there to read.
func (rd *Reader) take(inPlace bool) (rec []byte, ok bool, err error) {
	l := rd.l
	for {
		p := rd.pos
		v := l.RecordAt(p)
		switch v.Found {
		case layout.FoundGap, layout.FoundPad:
			rd.pos = p + v.Size
			continue
		case layout.FoundBad:
			return nil, false, rd.corruptOrLapped(p, v.Len)
		}
		// Partner: the walker's Head store, made before any writer may
		// claim the space at p.
		if rd.overwrite && l.Ctl.Head.Load() > p {
			return nil, false, rd.lapped(p + 1)
		}
		if v.Found == layout.FoundNothing {
			return nil, false, nil
		}
		start := v.Off + layout.RecordHdrSize
		rec = l.Data[start : start+v.Len : start+v.Len]
		if !inPlace {
			rec = rd.grow(v.Len)
			copy(rec, l.Data[start:start+v.Len])
			// A Head still at or below p after the copy means no writer
			// claimed the space, so the length read above and the bytes
			// copied are the record's. Partner: as above.
			if l.Ctl.Head.Load() > p {
				return nil, false, rd.lapped(p + 1)
			}
		}
		rd.pos = p + v.Size
		rd.recs++
		rd.byts += v.Len
		rd.cur, rd.curLen = p, v.Len
		rd.inPlace = inPlace && rd.overwrite
		return rec, true, nil
	}
}

// waitAt waits once at p, where nothing is published and e was the end of
// stream, as the wait strategy says; at its periodic tick it checks the
// ring's sanity and reaps dead writers. An error ends the call.
func (rd *Reader) waitAt(ctx context.Context, p, e uint64) error {
	l := rd.l
	due, err := rd.ws.pause(ctx, rd.wait, &l.Ctl.DataWake, &l.Ctl.ReaderWaiters,
		func() bool { return rd.idle(p, e) })
	if rd.calls.closing() {
		return rd.closedErr()
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return wrapErr("read", rd.r.addr, ErrTruncated, err)
	}
	if due {
		corrupt, suspect := rd.ws.confirm(rd.check(p))
		if corrupt != nil {
			return corrupt
		}
		if !suspect {
			rd.r.reapWriters()
		}
	}
	return nil
}

// grow returns rd.buf resized to n bytes, reallocating only when n is
// larger than any record before (doubling, up to MaxRecord).
func (rd *Reader) grow(n uint64) []byte {
	if uint64(cap(rd.buf)) < n {
		rd.buf = make([]byte, min(max(n, 2*uint64(cap(rd.buf)), 256), rd.l.MaxRecord))
	}
	return rd.buf[:n:n]
}

func (rd *Reader) closedErr() error {
	return wrapErr("read", rd.r.addr, ErrClosed, nil)
}

// skipGap moves p over the last bytes of a lap when they are too few for
// a record header: readers skip them, and a writer's next claim starts
// after them. A stream that ends there (End and Tail at p) ends, for a
// reader, at the start of the next lap, where the reader waits.
func skipGap(l *layout.Ring, p uint64) uint64 {
	if rem := l.Capacity - p&l.Mask; rem < layout.RecordHdrSize {
		return p + rem
	}
	return p
}

// endsHere reports whether the stream ends at p, where the reader found
// nothing to read, e being End loaded after that: when End, the writer
// slots (all free) and Tail, loaded in this order, say p, and that end
// was not reported here yet (a call after it waits for a writer to start
// the next stream). A writer that attaches after the slot scan and
// claims before the Tail load moves Tail; one that claims later starts
// the next stream. Partners: endStream's CAS, and the Store that frees a
// writer slot after it.
func (rd *Reader) endsHere(p, e uint64) bool { return endsHere(rd.l, p, e, rd.ended) }

// endsHere is Reader.endsHere for any cursor: reported is the End word
// last reported to it.
func endsHere(l *layout.Ring, p, e, reported uint64) bool {
	return endsAt(l, p, e, reported) && skipGap(l, l.Ctl.Tail.Load()) == p
}

// endsAt reports whether End e, loaded first, and the writer slots,
// scanned after it, say that the stream ends at p, and it was not
// reported there yet (reported is the End word last reported).
func endsAt(l *layout.Ring, p, e, reported uint64) bool {
	return e != 0 && e != reported && skipGap(l, e&^layout.EndMask) == p && !writersAttached(l)
}

// idle reports whether nothing changed at p since the reader looked: no
// record, no new end of stream, no lap, no Close, and not the last writer
// gone from an end recorded at p (a closer stores End before it frees its
// slot, and wakes readers after).
func (rd *Reader) idle(p, end uint64) bool {
	l := rd.l
	if l.RecordAt(p).Found != layout.FoundNothing || l.Ctl.End.Load() != end || rd.calls.closing() || endsAt(l, p, end, rd.ended) {
		return false
	}
	return !rd.overwrite || l.Ctl.Head.Load() <= p
}

// publish stores the cursor and wakes writers waiting for space.
//
// Why a record returned in place under PolicyBlock stays whole until the
// reader's next call: writers claim only below the slowest live reader's
// published cursor plus the capacity (room; a writer's cached limit is no
// higher than a cursor this reader published, or than the Head it
// attached at, plus the capacity, and cursors only grow). A reader publishes rd.pos
// only at the start of a call (the end of the record the caller just gave
// back), and before it waits or gives up (the position of a record not
// read yet); and when a call passed a batch's worth, the start of the
// record it returns (publishAt); so its published cursor never passes a
// record it has returned and the caller may still hold; batching only delays a
// publication, which keeps the cursor lower. The next lap's copy of the
// record's bytes therefore lies at or past every writer's limit until
// the reader's next call. Under PolicyOverwrite writers ignore cursors,
// which is why Next copies and checks there.
func (rd *Reader) publish() { rd.publishAt(rd.pos) }

// publishAt is publish of cursor p: rd.pos, or the start of the record
// just returned (which the caller may still hold, so never past it).
func (rd *Reader) publishAt(p uint64) {
	// Partner: the writers' Cursor loads in minCursor.
	rd.slot.Cursor.Store(p)
	rd.published = p
	if !rd.overwrite {
		rd.markRead()
	}
	if rd.l.Ctl.WriterWaiters.Load() != 0 {
		wakeWriters(rd.l)
	}
}

// markRead raises ReadMark (policy block) to the cursor when every record
// between them was read: by this reader, once ReadMark is at or past
// where it started, since it reads every record from there. A reader that
// started above ReadMark (from the latest record, over records nobody has
// read) raises nothing until others have read up to its start. ReadMark
// only grows, so the test holds from then on. Partner: the writers' load
// in reusable.
func (rd *Reader) markRead() {
	rm := &rd.l.Ctl.ReadMark
	for {
		m := rm.Load()
		if m >= rd.pos {
			return
		}
		if !rd.marking {
			if rd.start > m {
				return
			}
			rd.marking = true
		}
		if rm.CompareAndSwap(m, rd.pos) {
			return
		}
	}
}

// lapped resynchronises a lapped reader at Head and reports its loss.
// Head was found at or past past; a triple behind it, or counting fewer
// records or bytes than the reader has, cannot be right.
func (rd *Reader) lapped(past uint64) error {
	err := resync(rd.l, rd.r.addr, past, &rd.pos, &rd.recs, &rd.byts)
	if lost := (*LostError)(nil); errors.As(err, &lost) {
		rd.l.Ctl.Overruns.Add(1)
	}
	return err
}

// resync moves a lapped cursor (pos, with the records and bytes before
// it) to Head and returns the *LostError that counts what it missed; see
// Reader.lapped.
func resync(l *layout.Ring, addr string, past uint64, pos, recs, byts *uint64) error {
	hp, hr, hb := headTriple(l)
	if hp < past || hr < *recs || hb < *byts {
		return corruptf("read", addr, "head triple (%d, %d records, %d bytes) is not past the reader (%d, %d records, %d bytes)",
			hp, hr, hb, past, *recs, *byts)
	}
	e := wrapErr("read", addr, nil, &LostError{Records: hr - *recs, Bytes: hb - *byts})
	*pos, *recs, *byts = hp, hr, hb
	return e
}

// corruptOrLapped explains a header that failed its bounds checks. Under
// PolicyOverwrite a writer may have rewritten it between the reader's
// stamp and length loads: if Head has passed p that is a lap, not
// corruption. Partner: the walker's Head store, made before any writer
// may claim the space.
func (rd *Reader) corruptOrLapped(p, n uint64) error {
	if rd.overwrite && rd.l.Ctl.Head.Load() > p {
		return rd.lapped(p + 1)
	}
	return rd.corrupt(p, n)
}

func (rd *Reader) corrupt(p, n uint64) error {
	return wrapErr("read", rd.r.addr, ErrCorrupt, fmt.Errorf("record at position %d has length %d (max record %d)", p, n, rd.l.MaxRecord))
}

func (rd *Reader) endErr(e uint64) error { return endErr(rd.r.addr, e) }

// endErr is what a read at the end of a stream returns, by the cause in
// End e.
func endErr(addr string, e uint64) error {
	switch e & layout.EndMask {
	case layout.EndEOF:
		return io.EOF
	case layout.EndAborted:
		return wrapErr("read", addr, ErrWriterLost, errors.New("the last writer closed with an error"))
	}
	return wrapErr("read", addr, ErrWriterLost, nil)
}

// Read reads the concatenated payloads of the records, waiting for data.
// Under PolicyOverwrite it verifies after copying that the record was not
// overwritten meanwhile, and returns a *LostError if it was.
func (rd *Reader) Read(p []byte) (n int, err error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !rd.calls.enter() {
		return 0, rd.closedErr()
	}
	defer rd.calls.exit()
	if len(rd.rest) == 0 {
		// In place: the copy into p below is checked like Next's.
		rec, err := rd.next(context.Background(), true, true)
		if err != nil {
			return 0, err
		}
		rd.rest = rec
	}
	defer faultGuard(&err, "read", rd.r.addr, nil, nil, debug.SetPanicOnFault(true))
	n = copy(p, rd.rest)
	if rd.overwrite && rd.l.Ctl.Head.Load() > rd.cur {
		// The walker passed the record while we copied: count it as
		// lost, not read.
		return 0, rd.unread()
	}
	rd.rest = rd.rest[n:]
	return n, nil
}

// unread takes back the record last returned, which a writer reached
// before the caller was done with it, and reports it lost with those
// before it (policy overwrite).
func (rd *Reader) unread() error {
	rd.rest = nil
	rd.inPlace = false
	rd.recs--
	rd.byts -= rd.curLen
	return rd.lapped(rd.pos)
}

// Close releases the reader's slot and discards nothing: under
// PolicyBlock the records it read become space that writers may reuse
// when they need it, and until then stay in the ring for later readers.
// A call in progress on another goroutine ends with ErrClosed first;
// Close returns once it has.
func (rd *Reader) Close() error { return rd.endClose(rd.beginClose()) }

// beginClose marks rd closing and wakes its call in progress, if any, so
// that it ends with ErrClosed. first is true for the one Close that must
// finish the job in endClose.
func (rd *Reader) beginClose() (first bool) {
	first, busy := rd.calls.shut()
	if first && busy {
		wakeReaders(rd.l) // a call asleep on the futex word sees the mark
	}
	return first
}

// endClose waits for the call in progress to end and releases the slot
// (first), or waits for the Close that does (not first).
func (rd *Reader) endClose(first bool) (err error) {
	if !first {
		rd.calls.waitFinished()
		return nil
	}
	if rd.lf != nil {
		// Deferred first, it runs last, after the slot is freed below.
		defer closeSlotLock(rd.lf, rd.lock)
	}
	defer rd.finishClose()
	defer faultGuard(&err, "close", rd.r.addr, nil, nil, debug.SetPanicOnFault(true))
	l := rd.l
	rd.calls.drain()
	rd.rest = nil
	// Release the slot only while it still names us: a slot that changed
	// under us is corrupt, and left as it is for the checks of the
	// processes still waiting on the ring.
	own := rd.ownState()
	if checkOwnSlot(rd.slot.State.Load(), rd.slot.Start.Load(), own, "reader", "close", rd.r.addr) != nil {
		return nil
	}
	if !rd.overwrite {
		rd.markRead() // what it read is reusable now
	}
	// Free the slot, then (deferred above) release its lock.
	rd.slot.State.CompareAndSwap(own, freeState(own))
	if l.Ctl.WriterWaiters.Load() != 0 {
		wakeWriters(l)
	}
	return nil
}

// finishClose marks rd closed and forgets it.
func (rd *Reader) finishClose() {
	rd.calls.finish()
	rd.r.mu.Lock()
	delete(rd.r.readers, rd)
	rd.r.mu.Unlock()
}
