package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// inputChunk is the size of one read of standard input.
const inputChunk = 64 << 10

// input reads a command's standard input on a goroutine of its own, so
// that a read blocked in the kernel (`tail -f log | shmbuf write`, a
// terminal nobody types into) does not keep the command from stopping
// when its context ends: Read then returns what was already read, and
// after it the context's cause. A read(2) in progress cannot be taken
// back; the goroutine drops what it returns and exits, or dies with the
// process.
type input struct {
	ctx    context.Context
	size   int // of one read(2)
	chunks chan inputResult
	quit   chan struct{}
	rest   []byte // of the last chunk received, not yet returned
	err    error  // returned once rest is empty
}

type inputResult struct {
	p   []byte
	err error
}

// newInputSize starts reading in, size bytes at a time; Close stops the
// goroutine.
func newInputSize(ctx context.Context, in io.Reader, size int) *input {
	r := &input{ctx: ctx, size: size, chunks: make(chan inputResult), quit: make(chan struct{})}
	go r.readLoop(in)
	return r
}

// readLoop reads in into two buffers in turn: Read receives a chunk only
// once it has returned all of the one before, so the buffer being filled
// is never one the caller still reads from.
func (r *input) readLoop(in io.Reader) {
	var bufs [2][]byte
	for i := 0; ; i ^= 1 {
		if bufs[i] == nil {
			bufs[i] = make([]byte, r.size)
		}
		n, err := in.Read(bufs[i])
		if n == 0 && err == nil {
			continue
		}
		select {
		case r.chunks <- inputResult{bufs[i][:n], err}:
		case <-r.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader. Once the context has ended it returns the
// bytes already read from the input, if any, then the context's cause.
func (r *input) Read(p []byte) (int, error) {
	r.fill()
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	if len(r.rest) == 0 && r.err != nil {
		return n, r.err
	}
	return n, nil
}

// next is Read without the copy: it returns the rest of the chunk last
// received, or the next chunk, whole. The slice is valid until the next
// call of next or Read (the reading goroutine refills a buffer only after
// the chunk that follows it was received).
func (r *input) next() ([]byte, error) {
	r.fill()
	p := r.rest
	r.rest = nil
	return p, r.err
}

// fill receives the next chunk when the last one was all returned.
func (r *input) fill() {
	if len(r.rest) == 0 && r.err == nil {
		var c inputResult
		var ended bool
		select {
		case <-r.ctx.Done(): // first, even with a chunk ready
			ended = true
		default:
			select {
			case c = <-r.chunks:
			case <-r.ctx.Done():
				ended = true
			}
		}
		if ended {
			// A chunk already read is still returned, but no more: an
			// input that never pauses must not hold off the end.
			select {
			case c = <-r.chunks:
			default:
			}
			if c.err == nil {
				c.err = context.Cause(r.ctx)
			}
		}
		r.rest, r.err = c.p, c.err
	}
}

// discard returns how many bytes were read from the input and not yet
// returned by Read, counting a chunk that was waiting to be received,
// and drops them: the caller gave up on them.
func (r *input) discard() int {
	n := len(r.rest)
	r.rest = nil
	if r.err == nil {
		select {
		case c := <-r.chunks:
			n += len(c.p)
			r.err = c.err
		default:
		}
	}
	return n
}

// Close stops the reading goroutine (at once, or when its read(2)
// returns). The input itself is not closed.
func (r *input) Close() error {
	close(r.quit)
	return nil
}

// checkInput refuses a standard input that write cannot read, before
// anything is created or changed: one that was closed (`shmbuf write
// NAME <&-`) or that cannot be read (a directory, a descriptor open only
// for writing). Input that is not a file (a test's reader) is taken as
// it is.
func checkInput(in io.Reader) error {
	f, ok := in.(*os.File)
	if !ok {
		return nil
	}
	fd := int(f.Fd())
	if closedInput(fd) {
		return errors.New("standard input is closed")
	}
	// A read of zero bytes checks that the descriptor is open for
	// reading something readable, and consumes nothing.
	if _, err := unix.Read(fd, nil); err != nil {
		return fmt.Errorf("standard input cannot be read: %w", err)
	}
	return nil
}

// closedInput reports whether fd, standard input, was closed when the
// process started. The Go runtime then opens /dev/null in its place, for
// reading and writing (runtime.checkfds); a shell's `< /dev/null`, an
// empty input that write stores as an empty value, opens it for reading
// only.
func closedInput(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return false
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_ACCMODE == unix.O_RDWR
}
