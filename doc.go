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
// The empty address means DefaultName, /dev/shm/shared_buffer. Functions
// take an address as that string; an Address is its parsed, comparable
// form (ParseAddress, or PosixAddress and its siblings, which build one
// from a name, a path, a key or an id that no scheme can misread).
//
// What the bytes of a segment mean is its kind:
//
//   - Raw: plain bytes without a header; `cat /dev/shm/NAME` shows them.
//     Store replaces the content under an exclusive flock, Load reads it
//     under a shared one and returns the value exactly, except from
//     fixed-size regions of other programs and System V regions, whose
//     trailing NUL bytes it cannot tell from padding. See Raw.
//   - Snapshot: a latest-value blackboard; Publish never waits for readers
//     and Load always returns one whole value. See Snapshot.
//   - Ring: a stream of records with any number of writers and readers,
//     each reader seeing every record. Reading consumes nothing: records
//     stay until a writer needs their space, and a file: ring is a
//     journal that later processes read back (Ring.Sync makes it
//     survive a crash of the machine). See Ring.
//
// Stat, List and Usages describe segments without opening them as their
// kind; Remove deletes one.
//
// # Rings
//
// A Ring is created with RingOptions (CreateRing) or opened (OpenRing).
// Records go in through a Writer (Ring.NewWriter, WriterOptions) and come
// out through a Reader (Ring.NewReader, ReaderOptions), each reader with
// its own cursor; Ring.Stat returns a RingStat with a RingPeer per writer
// and reader. Policy, WaitStrategy and StartPosition are their options'
// values, and LostError counts what an overwrite ring's lapped reader
// missed.
//
// The ring is part of this package rather than a package of its own
// because it shares everything below the record format with the other
// kinds: addresses, the mapped segment and its atomic creation, the
// *Error values and their sentinels, liveness by kernel locks and process
// identity, the guard that turns a truncated mapping into ErrTruncated,
// and Stat, List and Usages, which describe rings beside the other kinds.
// A ring package would have to import those from here, exported for it
// alone, or copy them.
//
// # Memory ownership
//
// Each Raw, Snapshot and Ring owns the mapping it made and releases exactly
// it in Close. Raw.Load and Snapshot.Load return copies that the caller
// owns. Zero-copy slices (Reader.Next, Writer.Claim) say in their
// documentation which call ends their validity.
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
//     `shmbuf rm`, `rm /dev/shm/NAME`, `ipcrm`) or until reboot. A segment
//     whose writers exited still holds their data: Usages and Usage.Stale
//     call one abandoned only when nobody uses it and nobody has written
//     it for a given time.
//   - Everything read from a segment is untrusted: formatted kinds validate
//     their header on open (ErrNotShmbuf, ErrVersion, ErrWrongKind,
//     ErrCorrupt) and bounds-check every length they read. A segment that
//     another process truncates under a mapping yields ErrTruncated instead
//     of a SIGBUS crash.
//   - System V segments have no file, so raw System V segments are not
//     locked: a Load racing a Store can see a mix of both.
//   - A peer is declared dead only on proof that holds across pid
//     namespaces (containers sharing /dev/shm). On the posix and file
//     backends every ring writer and reader, snapshot writer and user of a
//     ring or snapshot holds a kernel lock on a byte of the segment file,
//     which the kernel drops when it dies, wherever it runs. Such locks
//     belong to open file descriptions: a process that forks without exec
//     shares them with its child, and counts as alive while either lives.
//     On System V a peer is judged by pid and start time only inside its
//     own pid namespace: a peer of another namespace that dies there is
//     never reaped (its slot stays taken; a snapshot writer lock it held
//     makes Publish fail with ErrLockHeld).
//   - Segments are created with mode 0600 unless asked otherwise; symbolic
//     links at a segment's path are refused, never followed.
//   - A segment appears at its address only when complete. Files are built
//     without a name and linked into place without replacing anything, so
//     an opener finds nothing or the finished segment. A System V key is
//     visible at once, so a System V segment has mode 0611 until it is
//     formatted, and openers wait for that mark to go (ErrIncomplete after
//     2 s, or at once if its creator died). Force replaces a file by a
//     rename: processes that have the old one mapped keep it.
//
// Errors are *Error values whose message names the operation, the address
// and the cause in one line; test them with errors.Is against the ErrX
// sentinels.
package shmbuf
