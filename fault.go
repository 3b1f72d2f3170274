package shmbuf

import (
	"errors"
	"runtime"
	"runtime/debug"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// faultGuard is the one fault guard of every function that touches mapped
// memory: another process may shrink the file under the mapping (SIGBUS)
// and a corrupt segment may send a position outside the data area
// (layout.ErrHdrBounds); neither may crash the process. Such a function
// starts with
//
//	defer faultGuard(&err, op, addr, nil, nil, debug.SetPanicOnFault(true))
//
// and a fault anywhere after it becomes its error, ErrTruncated or
// ErrCorrupt (see faultErr); any other panic goes on. old is the fault
// mode to restore, which the deferred call's argument, evaluated at once,
// both returns and replaces. The other arguments:
//
//   - err nil: the fault is swallowed (a reaper gives up quietly; the
//     caller's own access reports it), and a function without an error
//     result returns whatever its named results hold, zero unless it
//     assigned them before the fault.
//   - gate: the call gate the function entered, exited on the way out in
//     the same deferred call (a function with several defers and many
//     returns loses open-coded defers, so the hot paths keep one).
//   - done: a hot path sets *done just before its normal return, and the
//     guard then skips recover, which costs about as much as the rest of
//     it. A panic never reaches that assignment, so it is still caught.
//
// A function, not a struct with a method: the compiler moves a variable
// whose address is stored in a struct field to the heap as soon as any
// field reaches it, and a struct built as a value and copied into place
// stalls store-to-load forwarding; either cost the hot paths far more
// than the guard itself. It must be the deferred call itself, since
// recover works only there.
func faultGuard(err *error, op, addr string, gate *callGate, done *bool, old bool) {
	if gate != nil {
		gate.exit()
	}
	debug.SetPanicOnFault(old)
	if done != nil && *done {
		return
	}
	if rec := recover(); rec != nil {
		e := faultErr(rec, op, addr)
		if err != nil {
			*err = e
		}
	}
}

// faultErr converts a recovered panic into ErrTruncated when it is a memory
// fault (SIGBUS or SIGSEGV on a mapping that another process shrank) raised
// while debug.SetPanicOnFault was on, and into ErrCorrupt for a header
// offset out of range. Any other panic is re-raised.
func faultErr(r any, op, addr string) error {
	if e, ok := r.(error); ok && errors.Is(e, layout.ErrHdrBounds) {
		// A position read from the segment pointed outside the data
		// area: the segment is corrupt, the process is fine.
		return wrapErr(op, addr, ErrCorrupt, e)
	}
	if re, ok := r.(runtime.Error); ok {
		if _, ok := re.(interface{ Addr() uintptr }); ok {
			return wrapErr(op, addr, ErrTruncated, nil)
		}
	}
	panic(r)
}
