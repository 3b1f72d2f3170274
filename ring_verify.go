package shmbuf

import "runtime/debug"

// Verify reports whether the record the last Next returned was still whole
// when Verify was called. Under PolicyOverwrite a writer that laps the
// reader may overwrite a record while the caller is using the slice Next
// returned; a zero-copy reader of such a ring uses the record, then calls
// Verify, and discards what it derived from the record if Verify fails.
//
// Verify returns nil under PolicyBlock, where records are never
// overwritten before the reader moves past them. Otherwise it returns nil
// if the record is intact, or a *LostError that counts the record among
// the lost ones; the reader then continues from the oldest record still
// in the ring, exactly as after a *LostError from Next.
func (rd *Reader) Verify() (err error) {
	if !rd.overwrite || rd.closed || rd.curLen == 0 && rd.cur == 0 {
		return nil
	}
	defer rd.r.guard("read", &err, debug.SetPanicOnFault(true))
	// Partner: the walker's Head store, made before any writer may claim
	// the space behind it. A Head still at or below the record means no
	// writer has touched it.
	if rd.l.Ctl.Head.Load() <= rd.cur {
		return nil
	}
	rd.rest = nil
	rd.recs--
	rd.byts -= rd.curLen
	rd.curLen, rd.cur = 0, 0
	return rd.lapped()
}
