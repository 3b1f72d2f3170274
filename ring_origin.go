package shmbuf

import (
	"runtime/debug"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// Origin returns where the record last returned by Next, NextInPlace or
// TryNext came from: the writer slot that wrote it and its position in
// the ring. A position names one record for the ring's whole life
// (positions only grow), so (ring, position) identifies a record across
// processes, and records of one writer slot come in the order that writer
// wrote them. writer is -1 before the first record, after Close, and under
// PolicyOverwrite when writers have already reused the record's space (pos
// is still the record's). The slot is as trustworthy as the record's
// header: a hostile peer may write any number there.
func (rd *Reader) Origin() (writer int, pos uint64) {
	if rd.curLen == 0 || !rd.calls.enter() {
		return -1, rd.cur
	}
	defer rd.calls.exit()
	writer = -1
	func() {
		defer faultGuard(nil, "", "", nil, nil, debug.SetPanicOnFault(true))
		l := rd.l
		flags := l.Hdr(rd.cur & l.Mask).Flags
		// Under PolicyOverwrite the header is trusted only if no writer
		// claimed its space before the load. Partner: the walker's Head
		// store, made before any writer may claim the space.
		if rd.overwrite && l.Ctl.Head.Load() > rd.cur {
			return
		}
		writer = layout.RecordWriter(flags)
	}()
	return writer, rd.cur
}

// Origin returns the writer's slot and the position of the record it last
// wrote or claimed (Claim: the position the record will have once
// committed); pos is 0 before the first. Together with the ring they
// identify the record, as Reader.Origin reports it to readers, so that a
// process can record which record holds what before it commits it.
func (w *Writer) Origin() (writer int, pos uint64) {
	return int(w.idx), w.claimPos
}
