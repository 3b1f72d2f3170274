package shmbuf

import (
	"errors"
	"runtime"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// faultErr converts a recovered panic into ErrTruncated when it is a memory
// fault (SIGBUS or SIGSEGV on a mapping that another process shrank) raised
// while debug.SetPanicOnFault was on. Any other panic is re-raised. Every
// method that touches mapped memory defers:
//
//	old := debug.SetPanicOnFault(true)
//	defer func() {
//		debug.SetPanicOnFault(old)
//		if r := recover(); r != nil {
//			err = faultErr(r, op, addr)
//		}
//	}()
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
