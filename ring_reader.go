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
// Next returns records in place, without copying; Read and WriteTo give
// the concatenated payloads as a byte stream. End of stream (the last
// writer closed and every record before it was read) is io.EOF; a call
// after io.EOF waits for the next stream on the same ring.
//
// A Reader is for one goroutine at a time: its methods must not be called
// concurrently with each other. Several Readers, in any processes, may
// read one ring at once.
type Reader struct {
	r    *Ring
	l    *layout.Ring
	slot *layout.ReaderSlot
	gen  uint32   // the generation of the slot's State this reader took
	lf   *os.File // file-backed: the description holding the slot's lock
	wait WaitStrategy

	pos       uint64 // position of the next record
	published uint64 // the cursor last stored in the slot
	batch     uint64 // publish the cursor after this many bytes

	// recs and byts count the records and payload bytes before pos, in
	// the numbering of the Head triple (policy overwrite), so that a
	// lapped reader's loss is exact.
	recs, byts uint64
	overwrite  bool

	cur    uint64 // position of the record last returned
	curLen uint64
	rest   []byte // the part of that record Read has not returned
	closed bool
	ws     waitState
}

// LostError is returned by a Reader of an overwrite-policy ring that was
// lapped by the writers: Records records with Bytes payload bytes were
// overwritten before it read them. The next call continues from the
// oldest record still in the ring. errors.Is(err, ErrOverrun) is true.
type LostError struct {
	Records, Bytes uint64
	Addr           string
}

func (e *LostError) Error() string {
	return fmt.Sprintf("shmbuf: read %s: %v: lost %d records (%d bytes)", e.Addr, ErrOverrun, e.Records, e.Bytes)
}

// Unwrap returns ErrOverrun.
func (e *LostError) Unwrap() error { return ErrOverrun }

// NewReader registers a reader in a free slot. When every slot is held by
// a live reader it fails with ErrReadersFull. On a file-backed ring the
// reader opens the segment file again and holds the slot's lock on that
// description while it is attached, as writers do.
func (r *Ring) NewReader(o ReaderOptions) (rd *Reader, err error) {
	if r.seg == nil {
		return nil, wrapErr("reader", r.addr, ErrClosed, nil)
	}
	if o.Wait < WaitAdaptive || o.Wait > WaitBlock || o.From < FromOldest || o.From > FromLatest {
		return nil, wrapErr("reader", r.addr, ErrInvalidArgument, fmt.Errorf("unknown wait strategy %d or start %d", o.Wait, o.From))
	}
	defer r.guard("reader", &err, debug.SetPanicOnFault(true))
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
			rd := &Reader{r: r, l: r.l, slot: s, gen: gen, lf: lf, wait: o.Wait, batch: r.l.Capacity / 8,
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
	// Store the cursor, become active, then re-read Head: see gate for
	// why a writer that raised Head meanwhile cannot hand out space this
	// reader still needs. Partner: the writers' State and Cursor loads.
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
	rd.pos, rd.published = p, p
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
// the Head triple. It stops early at an unpublished record.
func (rd *Reader) skipToTail() {
	l := rd.l
	tail := l.Ctl.Tail.Load()
	for rd.pos < tail {
		p := rd.pos
		off := p & l.Mask
		rem := l.Capacity - off
		if rem < layout.RecordHdrSize {
			rd.pos += rem
			continue
		}
		h := l.Hdr(off)
		if h.Stamp.Load() != p+1 {
			break
		}
		n := uint64(h.Len)
		size := layout.RecordSize(n)
		pad := h.Flags&layout.FlagPad != 0
		if pad {
			size = layout.RecordHdrSize + n
		}
		if l.Ctl.Head.Load() > p {
			rd.pos, rd.recs, rd.byts = headTriple(l)
			continue
		}
		if size > rem || (!pad && n > l.MaxRecord) || size%layout.RecordAlign != 0 {
			break // corrupt: Next will report it
		}
		if !pad {
			rd.recs++
			rd.byts += n
		}
		rd.pos += size
	}
}

// Next returns the next record's payload, waiting for one as the wait
// strategy says, until ctx ends.
//
// The slice points into the shared ring: it is valid only until the next
// call on rd (Next, TryNext, Read, WriteTo or Close), like
// bufio.Reader.Peek, and must not be modified. Under PolicyOverwrite a
// writer that laps the reader may overwrite it even before then; use Read,
// which copies and verifies, when that matters.
//
// At the end of the stream Next returns io.EOF, or ErrWriterLost when the
// writers died (or closed with an error); a lapped reader gets a
// *LostError and continues from the oldest record on its next call.
func (rd *Reader) Next(ctx context.Context) ([]byte, error) {
	return rd.next(ctx, true)
}

// TryNext is Next without waiting: ErrEmpty when no record is ready.
func (rd *Reader) TryNext() ([]byte, error) {
	return rd.next(context.Background(), false)
}

func (rd *Reader) next(ctx context.Context, block bool) (rec []byte, err error) {
	if rd.closed {
		return nil, wrapErr("read", rd.r.addr, ErrClosed, nil)
	}
	done := false
	defer rd.r.guardFast("read", &err, &done, debug.SetPanicOnFault(true))
	l := rd.l
	rd.rest = nil
	// The record returned last time is released now: the cursor may
	// pass it. Batched, so that writers rarely see the line change.
	if rd.pos-rd.published >= rd.batch {
		rd.publish()
	}
	waited := false
	for {
		p := rd.pos
		off := p & l.Mask
		rem := l.Capacity - off
		if rem < layout.RecordHdrSize {
			rd.pos += rem
			continue
		}
		h := l.Hdr(off)
		// Partner: the writer's stamp store after the payload.
		if h.Stamp.Load() == p+1 {
			n := uint64(h.Len)
			if h.Flags&layout.FlagPad != 0 {
				size := layout.RecordHdrSize + n
				if n%layout.RecordAlign != 0 || size > rem {
					return nil, rd.corruptOrLapped(p, n)
				}
				rd.pos = p + size
				continue
			}
			size := layout.RecordSize(n)
			if n > l.MaxRecord || size > rem {
				return nil, rd.corruptOrLapped(p, n)
			}
			// Partner: the walker's Head store, made before any writer
			// may claim this record's space.
			if rd.overwrite && l.Ctl.Head.Load() > p {
				return nil, rd.lapped()
			}
			rd.pos = p + size
			rd.recs++
			rd.byts += n
			rd.cur, rd.curLen = p, n
			start := off + layout.RecordHdrSize
			done = true
			return l.Data[start : start+n : start+n], nil
		}
		if rd.overwrite && l.Ctl.Head.Load() > p {
			return nil, rd.lapped()
		}
		// The stream has ended here when End, Tail and p agree and no
		// writer slot is taken, checked in this order: a writer that
		// attaches after the scan and claims before the Tail load moves
		// Tail; one that claims later starts the next stream. Partners:
		// endStream's CAS, and the Store that frees a writer slot after
		// it.
		e := l.Ctl.End.Load()
		if e != 0 && skipGap(l, e&^layout.EndMask) == p && !writersAttached(l) && skipGap(l, l.Ctl.Tail.Load()) == p {
			return nil, rd.endErr(e)
		}
		if rd.pos != rd.published {
			rd.publish() // before waiting or giving up: writers see progress
		}
		if !block {
			return nil, wrapErr("read", rd.r.addr, ErrEmpty, nil)
		}
		if !waited {
			rd.ws.reset() // only a call that waits pays for the wait state
			waited = true
		}
		due, err := rd.ws.pause(ctx, rd.wait, &l.Ctl.DataWake, &l.Ctl.ReaderWaiters,
			func() bool { return rd.idle(p, e) })
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, wrapErr("read", rd.r.addr, ErrTruncated, err)
		}
		if due {
			rd.r.reapWriters()
		}
	}
}

// skipGap moves p over the last bytes of a lap when they are too few for
// a record header: readers skip them, and a writer's next claim starts
// after them. A stream that ends there (End and Tail at p) ends, for a
// reader, at the start of the next lap (found by the crash suite: a
// reader that had skipped the gap waited forever for an end of stream
// recorded 8 bytes before it).
func skipGap(l *layout.Ring, p uint64) uint64 {
	if rem := l.Capacity - p&l.Mask; rem < layout.RecordHdrSize {
		return p + rem
	}
	return p
}

// idle reports whether nothing changed at p since the reader looked: no
// record, no new end of stream, no lap, and not the last writer gone from
// an end recorded at p (a closer stores End before it frees its slot, and
// wakes readers after).
func (rd *Reader) idle(p, end uint64) bool {
	l := rd.l
	if l.Hdr(p&l.Mask).Stamp.Load() == p+1 || l.Ctl.End.Load() != end {
		return false
	}
	if end != 0 && skipGap(l, end&^layout.EndMask) == p && !writersAttached(l) {
		return false
	}
	return !rd.overwrite || l.Ctl.Head.Load() <= p
}

// publish stores the cursor and wakes writers waiting for space.
func (rd *Reader) publish() {
	// Partner: the writers' Cursor loads in minCursor.
	rd.slot.Cursor.Store(rd.pos)
	rd.published = rd.pos
	if rd.l.Ctl.WriterWaiters.Load() != 0 {
		wakeWriters(rd.l)
	}
}

// lapped resynchronises a lapped reader at Head and reports its loss.
func (rd *Reader) lapped() error {
	pos, recs, byts := headTriple(rd.l)
	e := &LostError{Records: recs - rd.recs, Bytes: byts - rd.byts, Addr: rd.r.addr}
	rd.pos, rd.recs, rd.byts = pos, recs, byts
	rd.l.Ctl.Overruns.Add(1)
	return e
}

// corruptOrLapped explains a header that failed its bounds checks. Under
// PolicyOverwrite a writer may have rewritten it between the reader's
// stamp and length loads: if Head has passed p that is a lap, not
// corruption. Partner: the walker's Head store, made before any writer
// may claim the space.
func (rd *Reader) corruptOrLapped(p, n uint64) error {
	if rd.overwrite && rd.l.Ctl.Head.Load() > p {
		return rd.lapped()
	}
	return rd.corrupt(p, n)
}

func (rd *Reader) corrupt(p, n uint64) error {
	return wrapErr("read", rd.r.addr, ErrCorrupt, fmt.Errorf("record at position %d has length %d (max record %d)", p, n, rd.l.MaxRecord))
}

func (rd *Reader) endErr(e uint64) error {
	switch e & layout.EndMask {
	case layout.EndEOF:
		return io.EOF
	case layout.EndAborted:
		return wrapErr("read", rd.r.addr, ErrWriterLost, errors.New("the last writer closed with an error"))
	}
	return wrapErr("read", rd.r.addr, ErrWriterLost, nil)
}

// Read reads the concatenated payloads of the records, waiting for data.
// Under PolicyOverwrite it verifies after copying that the record was not
// overwritten meanwhile, and returns a *LostError if it was.
func (rd *Reader) Read(p []byte) (n int, err error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(rd.rest) == 0 {
		rec, err := rd.Next(context.Background())
		if err != nil {
			return 0, err
		}
		rd.rest = rec
	}
	defer rd.r.guard("read", &err, debug.SetPanicOnFault(true))
	n = copy(p, rd.rest)
	if rd.overwrite && rd.l.Ctl.Head.Load() > rd.cur {
		// The walker passed the record while we copied: count it as
		// lost, not read.
		rd.rest = nil
		rd.recs--
		rd.byts -= rd.curLen
		return 0, rd.lapped()
	}
	rd.rest = rd.rest[n:]
	return n, nil
}

// WriteTo writes the payloads to w straight from the shared mapping until
// the end of the stream (io.EOF is not an error here) or an error.
func (rd *Reader) WriteTo(w io.Writer) (n int64, err error) {
	if len(rd.rest) > 0 {
		m, err := w.Write(rd.rest)
		n += int64(m)
		rd.rest = nil
		if err != nil {
			return n, err
		}
	}
	for {
		rec, err := rd.Next(context.Background())
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		m, err := w.Write(rec)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// Close releases the reader's slot. Under PolicyBlock, Head moves up to
// its cursor, so the space it read is free and a later reader starts
// after it.
func (rd *Reader) Close() (err error) {
	if rd.closed {
		return nil
	}
	rd.closed = true
	rd.rest = nil
	rd.r.mu.Lock()
	delete(rd.r.readers, rd)
	rd.r.mu.Unlock()
	if rd.lf != nil {
		defer rd.lf.Close()
	}
	if rd.r.seg == nil {
		return nil
	}
	defer rd.r.guard("close", &err, debug.SetPanicOnFault(true))
	if !rd.overwrite {
		raiseHead(rd.l, rd.pos)
	}
	// Free the slot, then (deferred above) release its lock.
	rd.slot.State.Store(freeState(layout.SlotState(rd.gen, 0, 0)))
	if rd.l.Ctl.WriterWaiters.Load() != 0 {
		wakeWriters(rd.l)
	}
	return nil
}
