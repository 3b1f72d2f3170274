package shmbuf

import (
	"sync/atomic"
	"time"
)

// callGate lets Close, called from any goroutine, end the calls in
// progress on a Reader or Writer before the slot is released and the ring
// unmapped, the way io.Pipe's Close ends a blocked Read: every call enters
// the gate, Close marks it closing, wakes the calls that sleep, waits
// until none is left inside, and only then touches what they use.
//
// The word is the handle's own, in process memory: a call costs two
// uncontended atomic adds on it (enter and exit), no lock and no shared
// cache line. Both are needed: Close must learn that a call started
// before it marked the gate (enter, ordered before the call's check of
// the mark) and that the call no longer touches the mapping (exit).
type callGate struct {
	st atomic.Uint32
}

const (
	// gateClosing is set by the first Close: calls that enter afterwards
	// fail with ErrClosed, calls inside end at their next wait step.
	gateClosing = 1 << 31
	// gateClosed is set when that Close has released the handle.
	gateClosed = 1 << 30
	// gateCalls counts the calls inside.
	gateCalls = gateClosed - 1
)

// enter admits a call, or reports false once Close has begun. Partner:
// the Or in shut (both sequentially consistent): either the call sees
// the mark or Close sees the call.
func (g *callGate) enter() bool {
	if g.st.Add(1)&gateClosing != 0 {
		g.st.Add(^uint32(0))
		return false
	}
	return true
}

// exit ends a call that enter admitted. Partner: the loads in drain.
func (g *callGate) exit() { g.st.Add(^uint32(0)) }

// closing reports whether Close has begun; waiting calls check it at
// every wait step.
func (g *callGate) closing() bool { return g.st.Load()&gateClosing != 0 }

// shut marks the gate closing. first is true for the one Close that must
// drain the calls and release the handle (then call finish); busy reports
// that calls were inside, which may be asleep on a futex word.
func (g *callGate) shut() (first, busy bool) {
	old := g.st.Or(gateClosing)
	return old&gateClosing == 0, old&gateCalls != 0
}

// drain waits until no call is inside. Calls on the fast path leave within
// one record's copy; waiting ones notice the mark at their next wait step,
// at once when the closer has woken their futex word.
func (g *callGate) drain() {
	for g.st.Load()&gateCalls != 0 {
		time.Sleep(sleepPoll)
	}
}

// finish records that the handle is released; a concurrent Close waiting
// in waitFinished returns.
func (g *callGate) finish() { g.st.Or(gateClosed) }

// waitFinished is Close when another Close came first: it returns once
// that one has released the handle, so that the Ring's Close never unmaps
// under a Close still in progress.
func (g *callGate) waitFinished() {
	for g.st.Load()&gateClosed == 0 {
		time.Sleep(sleepPoll)
	}
}
