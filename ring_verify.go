package shmbuf

import "runtime/debug"

// Verify reports whether the record the last NextInPlace (or Read)
// returned was still whole when Verify was called. Under PolicyOverwrite a
// writer that laps the reader may overwrite a record in place while the
// caller is using it; a zero-copy reader of such a ring uses the record,
// then calls Verify, and discards what it derived from the record if
// Verify fails.
//
// Verify returns nil when there is nothing to check: under PolicyBlock,
// where records are never overwritten before the reader moves past them,
// and after Next and TryNext, whose records are verified copies.
// Otherwise it returns nil if the record is intact, or a *LostError that
// counts the record among the lost ones; the reader then continues from
// the oldest record still in the ring, exactly as after a *LostError from
// Next.
func (rd *Reader) Verify() (err error) {
	if !rd.calls.enter() {
		return rd.closedErr()
	}
	defer rd.calls.exit()
	if !rd.inPlace {
		return nil
	}
	defer faultGuard(&err, "read", rd.r.addr, nil, nil, debug.SetPanicOnFault(true))
	// Partner: the walker's Head store, made before any writer may claim
	// the space behind it. A Head still at or below the record means no
	// writer has touched it.
	if rd.l.Ctl.Head.Load() <= rd.cur {
		return nil
	}
	return rd.unread()
}
