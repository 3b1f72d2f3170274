package shmbuf

import "time"

// The segment layer, for the tests of package shmbuf_test: its guarantees
// (exclusive creation, exact modes, refused links, limits) are tested
// directly, below the kinds that rely on them.
type Segment = segment

var (
	CreateSegment = createSegment
	OpenSegment   = openSegment
)

// TestCheckEvery is the liveness and sanity tick of ring waiters in the
// test binary, and so in the children it re-executes: a dead peer is
// noticed, and a crash trial ends, in tens of milliseconds instead of
// hundreds. It stays above a scheduling hiccup of a loaded machine, since
// corruption is confirmed on two ticks in a row.
const TestCheckEvery = 25 * time.Millisecond

// TestLockWait is how long Publish waits for a writer lock it cannot
// check (5 s outside tests) in the test binary: what a test of ErrLockHeld
// waits for.
const TestLockWait = 500 * time.Millisecond

func init() {
	checkEvery = TestCheckEvery
	lockWait = TestLockWait
}
