package shmbuf

import (
	"context"
	"runtime/debug"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// Batches. A writer that has many small records pays, per record, a call
// gate, a fault guard, a CAS on Tail and a store of the record's stamp
// into a cache line the reader is polling; a reader pays the same gate
// and guard and a cache miss on each header as the writer fills it. For
// bulk small records these costs, not the copies, set the pace, so
// WriteBatch and ReadBatch pay them once per batch.
//
// A writer's batch is one claim: the records lie one after the other in
// the claimed span, and their stamps are stored in reverse order, the
// first record's last. So a reader waiting at the first record finds the
// whole batch published when it finds that record (it reads the other
// headers from lines the writer no longer touches), the walker of Head
// never passes a batch half published, and a writer that dies before its
// last stamp store leaves the first record unpublished: the reaper then
// turns the whole claim into one padding record (unblockClaim), so no
// reader ever waits at a hole in the middle of a batch.

// batchSpan bounds the ring space of one batch: a quarter of the ring, so
// that the claim (plus at most the padding of a lap's end) always fits,
// and so that a reader holding one batch in place leaves the writers room
// to go on. A record larger than that is a batch of its own.
func batchSpan(l *layout.Ring) uint64 { return l.Capacity / 4 }

// copyBudget bounds the bytes ReadBatch copies per call under
// PolicyOverwrite (and so the reader's batch buffer), beyond the first
// record, which is always taken.
const copyBudget = 256 << 10

// WriteBatch appends each of recs as one record, as that many calls to
// Write would, but claims ring space for as many records at once as fit
// (a quarter of the ring, or up to the end of a lap) and publishes them
// together: one fault guard per call and one claim per span. Empty
// records write nothing. It returns how many of recs it consumed: all of
// them, or those before the one that failed (a record longer than
// MaxRecord is refused with ErrTooLarge, and nothing of it is written).
// A reader sees a span's records all at once, in order.
func (w *Writer) WriteBatch(recs [][]byte) (int, error) {
	return w.WriteBatchContext(context.Background(), recs)
}

// WriteBatchContext is WriteBatch, giving up with ctx.Err() when ctx ends
// while it waits for space; the records of the spans published before
// that are written, and counted in n.
func (w *Writer) WriteBatchContext(ctx context.Context, recs [][]byte) (n int, err error) {
	if !w.calls.enter() {
		return 0, w.closedErr()
	}
	done := false
	defer faultGuard(&err, "write", w.r.addr, &w.calls, &done, debug.SetPanicOnFault(true))
	if w.pending {
		_, err := w.claimRecord(ctx, 1) // reports the misuse
		done = true
		return 0, err
	}
	l := w.l
	span := batchSpan(l)
	for n < len(recs) {
		// Skip empty records, refuse a record too large.
		if len(recs[n]) == 0 {
			n++
			continue
		}
		if uint64(len(recs[n])) > l.MaxRecord {
			_, err := w.claimRecord(ctx, len(recs[n]))
			done = true
			return n, err
		}
		// Take records while they fit in the span and in the rest of
		// the lap (a span that straddles the lap's end would need a pad
		// in its middle). Another writer may move Tail before our claim:
		// claim then places the whole span at the next lap, which still
		// fits, since a span is at most a quarter of the ring.
		room := l.Capacity - l.Ctl.Tail.Load()&l.Mask
		first := layout.RecordSize(uint64(len(recs[n])))
		if first > room {
			room = l.Capacity // the span starts the next lap
		}
		room = min(room, max(span, first))
		size, k := uint64(0), n
		for k < len(recs) {
			m := uint64(len(recs[k]))
			if m == 0 {
				k++
				continue
			}
			rs := layout.RecordSize(m)
			if m > l.MaxRecord || size+rs > room {
				break
			}
			size += rs
			k++
		}
		pos, err := w.claim(ctx, size)
		if err != nil {
			done = true
			return n, err
		}
		w.publishSpan(pos, recs[n:k])
		n = k
	}
	done = true
	return n, nil
}

// publishSpan copies recs into the claimed span at pos and publishes
// them: every header but the first with plain stores, then the first
// record's stamp, whose release publishes them all (see Batches). A
// serializing store per record would wait, each time, for the copies
// before it to leave the core.
func (w *Writer) publishSpan(pos uint64, recs [][]byte) {
	l := w.l
	flags := layout.RecordFlags(w.idx, false)
	first, firstLen := uint64(0), uint64(0)
	p := pos
	var bytes, count uint64
	for _, rec := range recs {
		m := uint64(len(rec))
		if m == 0 {
			continue
		}
		off := p & l.Mask
		copy(l.Data[off+layout.RecordHdrSize:off+layout.RecordHdrSize+m], rec)
		if count == 0 {
			first, firstLen = p, m
		} else {
			l.PutRecordHdr(p, uint32(m), flags)
		}
		p += layout.RecordSize(m)
		bytes += m
		count++
	}
	h := l.Hdr(first & l.Mask)
	h.Len = uint32(firstLen)
	h.Flags = flags
	// Partner: the reader's Stamp.Load; it publishes every record above.
	h.Stamp.Store(l.Stamp(first))
	before := w.records
	w.records += count
	w.bytes += bytes
	if before == 0 || before>>8 != w.records>>8 {
		w.flushCounters()
	}
	// See publish: a reader counted itself before re-checking the stamp.
	if l.Ctl.ReaderWaiters.Load() != 0 {
		wakeReaders(l)
	}
}

// ReadBatch fills recs with the next records, waiting for the first as
// Next does, then taking every record already published after it without
// waiting, up to len(recs) records and a quarter of the ring. It returns
// how many it filled: at least one, unless err is not nil. The slices are
// valid as Next's are, until the next call on rd or the Ring's Close: in
// place under PolicyBlock; under PolicyOverwrite copied into a buffer rd
// owns and checked after the copy, so that a batch a writer reached is
// never returned: those records, and any before them, are counted in the
// *LostError returned instead, and the next call goes on from the oldest
// record still in the ring. Errors and the end of the stream are as
// Next's, and come only with n == 0: a batch ends before them.
func (rd *Reader) ReadBatch(ctx context.Context, recs [][]byte) (n int, err error) {
	return rd.readBatch(ctx, true, recs)
}

// TryReadBatch is ReadBatch without waiting: ErrEmpty when no record is
// ready.
func (rd *Reader) TryReadBatch(recs [][]byte) (n int, err error) {
	return rd.readBatch(context.Background(), false, recs)
}

func (rd *Reader) readBatch(ctx context.Context, block bool, recs [][]byte) (n int, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	// The first record: waits, the end of the stream and every error
	// are Next's. In place, so that the copy below covers the batch.
	first, err := rd.next(ctx, block, true)
	if err != nil {
		return 0, err
	}
	if !rd.calls.enter() {
		return 0, rd.closedErr()
	}
	done := false
	defer faultGuard(&err, "read", rd.r.addr, &rd.calls, &done, debug.SetPanicOnFault(true))
	rd.inPlace = false
	l := rd.l
	recs[0] = first
	n = 1
	firstPos, firstLen := rd.cur, rd.curLen
	// The records taken so far, for the rewind of a lapped batch.
	recs0, byts0 := rd.recs-1, rd.byts-firstLen
	limit := rd.pos + batchSpan(l)
	var budget uint64 // bytes left to copy (policy overwrite)
	if rd.overwrite {
		budget = copyBudget
	}
	// The scan works on locals, stored back once. Records mostly come
	// in runs of one length (a batch, a stream of equal records): after
	// two records of one length in a row (the first of a batch counts as
	// the second), Run takes the rest of the run in one step, and RecordAt
	// explains where it stopped; records of varied lengths are decoded
	// one by one, each once.
	pos, recCount, byteCount := rd.pos, rd.recs, rd.byts
	last, runLen := firstPos, firstLen
	try := true
	for n < len(recs) && pos < limit {
		if try {
			try = false
			size := layout.RecordSize(runLen)
			end := min(limit, pos+uint64(len(recs)-n)*size)
			if rd.overwrite && runLen > 0 {
				end = min(end, pos+budget/runLen*size)
			}
			if k := l.Run(pos, uint32(runLen), end); k > 0 {
				off := pos&l.Mask + layout.RecordHdrSize
				for i := range k {
					recs[n+int(i)] = l.Data[off : off+runLen : off+runLen]
					off += size
				}
				n += int(k)
				last = pos + (k-1)*size
				pos += k * size
				recCount += k
				byteCount += k * runLen
				if rd.overwrite {
					budget -= k * runLen
				}
				continue
			}
		}
		v := l.RecordAt(pos)
		if v.Found == layout.FoundGap || v.Found == layout.FoundPad {
			pos += v.Size
			continue
		}
		// Nothing yet, or a header the next call explains; or a record
		// past the batch's bounds.
		if v.Found != layout.FoundRecord || pos+v.Size > limit || rd.overwrite && v.Len > budget {
			break
		}
		start := v.Off + layout.RecordHdrSize
		recs[n] = l.Data[start : start+v.Len : start+v.Len]
		n++
		try = v.Len == runLen
		last, runLen = pos, v.Len
		pos += v.Size
		recCount++
		byteCount += v.Len
		if rd.overwrite {
			budget -= v.Len
		}
	}
	rd.pos, rd.recs, rd.byts = pos, recCount, byteCount
	rd.cur, rd.curLen = last, runLen
	if rd.overwrite {
		copied := copyBudget - budget + firstLen
		// rd.buf serves Next too, which only ever grows it.
		if uint64(cap(rd.buf)) < copied {
			rd.buf = make([]byte, max(copied, 2*uint64(cap(rd.buf))))
		}
		buf := rd.buf[:copied]
		var o uint64
		for i, rec := range recs[:n] {
			m := uint64(len(rec))
			copy(buf[o:o+m], rec)
			recs[i] = buf[o : o+m : o+m]
			o += m
		}
		// A Head still at or below the first record after the copies
		// means no writer claimed the space of any of them. Partner: the
		// walker's Head store, made before any writer may claim the
		// space behind it.
		if l.Ctl.Head.Load() > firstPos {
			clear(recs[:n])
			rd.pos, rd.recs, rd.byts = firstPos, recs0, byts0
			done = true
			return 0, rd.lapped(firstPos + 1)
		}
	}
	done = true
	return n, nil
}
