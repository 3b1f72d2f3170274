package shmbuf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns is an *Error holding
// one of these, the errno of a failed system call, or both, so callers
// test with errors.Is and print one line that names the address and the
// cause. (A ring Reader's io.EOF, the end of the stream, is the one
// exception, as io.Reader's contract asks.)
var (
	// ErrInvalidAddress is returned when an address has an unknown scheme or
	// a malformed key, id or path.
	ErrInvalidAddress = errors.New("invalid address")

	// ErrInvalidName is returned when a segment name contains '/' or NUL,
	// is empty, "." or "..", or is longer than 255 bytes.
	ErrInvalidName = errors.New("invalid name")

	// ErrInvalidSize is returned when a size is malformed, zero, negative or
	// too small for what the segment must hold.
	ErrInvalidSize = errors.New("invalid size")

	// ErrInvalidArgument is returned when an option has a value outside its
	// range (an unknown kind, policy or wait strategy, zero readers).
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrNotExist is returned when the segment an address names does not
	// exist.
	ErrNotExist = errors.New("no such segment")

	// ErrExist is returned when Create finds a segment already at the
	// address and was not asked to replace it.
	ErrExist = errors.New("segment already exists")

	// ErrSymlink is returned when the path of a posix or file segment is a
	// symbolic link. Links are never followed, so a link planted in
	// /dev/shm cannot redirect a write elsewhere.
	ErrSymlink = errors.New("path is a symbolic link")

	// ErrNotRegular is returned when the path of a posix or file segment is
	// not a regular file (a directory, FIFO or device).
	ErrNotRegular = errors.New("not a regular file")

	// ErrNoSpace is returned when the file system or the kernel cannot
	// reserve the segment's size.
	ErrNoSpace = errors.New("no space for segment")

	// ErrNotShmbuf is returned when a segment opened as a formatted kind does
	// not start with the shmbuf magic number.
	ErrNotShmbuf = errors.New("not a shmbuf segment")

	// ErrVersion is returned when a segment's format version is not one this
	// package reads.
	ErrVersion = errors.New("unsupported format version")

	// ErrWrongKind is returned when a segment is opened as a kind other than
	// the one recorded in its header.
	ErrWrongKind = errors.New("wrong segment kind")

	// ErrCorrupt is returned when a header or a record read from shared
	// memory fails validation: a bad checksum, an offset or a length out of
	// bounds, or a ring control word (a position, a count, a slot's state)
	// that cannot be right, which would otherwise make a wait last for
	// ever.
	ErrCorrupt = errors.New("corrupt segment")

	// ErrTruncated is returned when the segment shrank under a mapping, so
	// that an access touched memory past the end of the file.
	ErrTruncated = errors.New("segment truncated under mapping")

	// ErrTooLarge is returned when a value or record is larger than the
	// segment or the ring's maximum record size can hold. Nothing is
	// written.
	ErrTooLarge = errors.New("value too large for segment")

	// ErrClosed is returned by methods called after Close, and by a ring
	// Reader's or Writer's call in progress that a Close on another
	// goroutine ended.
	ErrClosed = errors.New("closed")

	// ErrInterrupted is returned by Raw.Load when the last Store on the
	// segment was cut short (its writer died half-way), so the content is
	// incomplete. The next Store repairs the segment.
	ErrInterrupted = errors.New("last write was interrupted; content incomplete")

	// ErrLimit is returned when a per-process or system-wide limit stops
	// an open or a mapping: the file-descriptor limit (RLIMIT_NOFILE,
	// fs.file-max) or the mapping limits (vm.max_map_count, RLIMIT_AS).
	// The message names the limit and its current value.
	ErrLimit = errors.New("resource limit reached")

	// ErrReadOnly is returned when writing through a segment opened read-only.
	ErrReadOnly = errors.New("segment opened read-only")

	// ErrIncomplete is returned when a System V segment is still marked as
	// being created after shmbuf waited for it (2 s), or its creator died
	// before finishing it. Such a segment is never used; Remove removes it.
	ErrIncomplete = errors.New("segment is still being created")

	// ErrLockHeld is returned by Snapshot.Publish on a System V snapshot
	// when a writer whose liveness cannot be checked (a process of another
	// pid namespace) has held the writer lock for 5 s: it may have died
	// there holding it. The value is left as it was.
	ErrLockHeld = errors.New("writer lock held by a process of another pid namespace")
)

// Error records an operation, the address it applied to and the cause.
// Its message is one line: "shmbuf: OP ADDR: CAUSE".
type Error struct {
	Op   string // "create", "open", "read", "write", "remove", "stat", …
	Addr string // the address as the user wrote it, canonicalised
	Err  error  // a sentinel above, a syscall.Errno, or both
}

func (e *Error) Error() string {
	if e.Addr == "" {
		return "shmbuf: " + e.Op + ": " + e.Err.Error()
	}
	return "shmbuf: " + e.Op + " " + e.Addr + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is sees through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// wrapErr builds an *Error. When both a sentinel and a cause (a
// system-call error, or a sentence saying more) are given, both stay
// visible to errors.Is.
func wrapErr(op, addr string, sentinel, cause error) error {
	switch {
	case sentinel == nil:
		return &Error{Op: op, Addr: addr, Err: cause}
	case cause == nil:
		return &Error{Op: op, Addr: addr, Err: sentinel}
	default:
		return &Error{Op: op, Addr: addr, Err: &causeErr{sentinel, cause}}
	}
}

// causeErr pairs a sentinel with the error behind it.
type causeErr struct{ sentinel, cause error }

func (c *causeErr) Error() string   { return fmt.Sprintf("%v (%v)", c.sentinel, c.cause) }
func (c *causeErr) Unwrap() []error { return []error{c.sentinel, c.cause} }

// Sentinel errors of the ring kind.
var (
	// ErrWriterLost is returned by a ring reader, after it has read every
	// record before the end, when every writer of the stream died (or
	// closed with an error) instead of closing.
	ErrWriterLost = errors.New("every writer was lost without closing the stream")

	// ErrOverrun is returned when a reader of an overwrite-policy ring
	// was lapped by the writers and lost records; a *LostError in the
	// chain counts them.
	ErrOverrun = errors.New("reader overrun: records lost")

	// ErrReadersFull is returned when every reader slot of a ring is taken
	// by a live reader. The message names the limit.
	ErrReadersFull = errors.New("all reader slots taken")

	// ErrWritersFull is returned when every writer slot of a ring is taken
	// by a live writer. The message names the limit.
	ErrWritersFull = errors.New("all writer slots taken")

	// ErrEmpty is returned by a ring reader's TryNext when no record is
	// ready.
	ErrEmpty = errors.New("no record ready")
)

// LostError is the cause of an ErrOverrun: a Reader of an overwrite-policy
// ring was lapped by the writers, and Records records with Bytes payload
// bytes were overwritten before it read them. The Reader's next call
// continues from the oldest record still in the ring. Readers return it
// inside an *Error ("shmbuf: read ADDR: reader overrun: …"), so that
// errors.Is(err, ErrOverrun) holds and errors.As finds both.
type LostError struct {
	Records, Bytes uint64
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%v: lost %d records (%d bytes)", ErrOverrun, e.Records, e.Bytes)
}

// Unwrap returns ErrOverrun.
func (e *LostError) Unwrap() error { return ErrOverrun }
