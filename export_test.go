package shmbuf

// The segment layer, for the tests of package shmbuf_test: its guarantees
// (exclusive creation, exact modes, refused links, limits) are tested
// directly, below the kinds that rely on them.
type Segment = segment

var (
	CreateSegment = createSegment
	OpenSegment   = openSegment
)
