// Package conformance holds the tests that prove the C library
// (clients/c) and the Python package (clients/python) against the Go
// implementation of the segment format (docs/FORMAT.md): every pair of
// writer and reader languages on one ring under both policies, snapshots
// in every pair, mixed writers, crashes, the C library under the address
// and undefined-behaviour sanitizers on corrupt segments, and the README's
// examples. Each language runs as a real process: the Go side re-executes
// the test binary, the C side runs clients/c/shmbuf_tool, the Python side
// testdata/role.py; all three print the same lines.
//
// The tests build the C library with make, once per change of its sources
// (the build is kept in the user cache directory, shmbuf-conformance/).
// Without gcc, make or python3 they skip, unless SHMBUF_REQUIRE=1.
package conformance
