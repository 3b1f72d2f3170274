// Package shmbuf moves data between processes on one Linux machine through
// shared memory: one process writes, others read, through memory both
// have mapped.
//
// # Basics
//
// A segment is named by an address, one string for the API and the
// command line:
//
//	NAME, posix:NAME   the file /dev/shm/NAME (what shm_open uses)
//	file:PATH          a regular file anywhere, memory-mapped
//	sysv:KEY           a System V segment by key (decimal or 0x hex)
//	sysv-id:ID         a System V segment by id
//
// The empty address means DefaultName, /dev/shm/shared_buffer.
//
// What the bytes of a segment mean is its kind:
//
//   - Raw: plain bytes without a header; `cat /dev/shm/NAME` shows them.
//     Store replaces the content under an exclusive flock, Load reads it
//     under a shared one. See Raw.
//   - Snapshot: a latest-value blackboard; Publish never waits for readers
//     and Load always returns one whole value. See Snapshot.
//   - Ring: a stream of records with any number of writers and readers,
//     each reader seeing every record. See Ring.
//
// # Memory ownership
//
// A Segment owns the slice mmap or shmat returned and releases exactly it
// in Close; Bytes and every slice derived from it stop being valid then.
// Raw.Load and Snapshot.Load return copies that the caller owns. Zero-copy
// slices (Reader.Next, Writer.Claim) say in their documentation which call
// ends their validity.
//
// A record from Reader.Next may be trusted until the reader's next call
// or the Close of the reader or its ring, under either policy: under
// PolicyBlock it lies in the ring, where writers never reuse space a live
// reader has not passed; under PolicyOverwrite, where writers do not wait,
// it is a copy the Reader owns, checked after the copy, and a record
// overwritten meanwhile is reported lost instead. Reader.NextInPlace is
// the zero-copy read of an overwrite ring: its record may change under the
// caller at any moment, and only a nil Reader.Verify after use says it did
// not.
//
// # Caveats
//
//   - Shared memory outlives processes. Segments stay until removed (Remove,
//     `shmbuf rm`, `rm /dev/shm/NAME`, `ipcrm`) or until reboot.
//   - Everything read from a segment is untrusted: formatted kinds validate
//     their header on open (ErrNotShmbuf, ErrVersion, ErrWrongKind,
//     ErrCorrupt) and bounds-check every length they read. A segment that
//     another process truncates under a mapping yields ErrTruncated instead
//     of a SIGBUS crash.
//   - System V segments have no file, so raw System V segments are not
//     locked: a Load racing a Store can see a mix of both.
//   - Segments are created with mode 0600 and O_EXCL|O_NOFOLLOW; symbolic
//     links at a segment's path are refused, never followed.
//
// Errors are *Error values whose message names the operation, the address
// and the cause in one line; test them with errors.Is against the ErrX
// sentinels.
package shmbuf
