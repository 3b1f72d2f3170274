package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf"
)

// ringSink is `shmbuf write` into a ring: the input becomes records, each
// ending at a newline, so that a reader prints exactly the bytes written,
// text or binary. A line longer than the ring's largest record is split
// into several records, said once on stderr, or refused with --strict.
type ringSink struct {
	ring   *shmbuf.Ring
	w      *shmbuf.Writer
	addr   string
	ctx    context.Context // ends a wait for space: a signal, --timeout
	stderr io.Writer
	strict bool
	split  bool // a line was split, and stderr told so

	watch *stallWatch
	sync  *syncer   // nil without --sync
	meter *progress // nil without --progress
	chunk bool      // --chunks: the input is a byte stream (streamChunks)
}

// ringSinkOptions are write's flags that only a ring takes.
type ringSinkOptions struct {
	wait    shmbuf.WaitStrategy
	timeout time.Duration // 0: wait for space as long as it takes
	strict  bool
	chunks  bool // the input is a byte stream, not lines
	// progress shows a progress line on stderr (tty: it is a terminal).
	progress, tty bool
	// sync flushes the ring to its file at exit, and every syncEvery
	// (0: never) while records arrive.
	sync      bool
	syncEvery time.Duration
}

// newRingSink registers a writer on r, which the sink then owns. When
// ctx ends (a signal) or --timeout passes while the writer waits for
// space, the write gives up; the records written so far stay.
func newRingSink(ctx context.Context, r *shmbuf.Ring, stderr io.Writer, o ringSinkOptions) (*ringSink, error) {
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: o.wait})
	if err != nil {
		r.Close()
		return nil, err
	}
	// The stall watch writes to stderr from its own goroutine.
	s := &ringSink{ring: r, w: w, addr: r.Addr().String(), stderr: &lockedWriter{w: stderr}, strict: o.strict, chunk: o.chunks}
	s.ctx, s.watch = startStallWatch(ctx, s, o.timeout)
	if o.sync {
		s.sync = startSyncer(r, &s.watch.progress, o.syncEvery)
	}
	if o.progress {
		s.meter = startProgress(stderr, o.tty, "written")
	}
	return s, nil
}

// put writes p as records, splitting after each newline.
func (s *ringSink) put(p []byte) error {
	n, err := s.write(p)
	return s.writeErr(err, len(p)-n)
}

// write is put returning how many bytes of p it wrote.
func (s *ringSink) write(p []byte) (int, error) {
	limit := s.ring.MaxRecord()
	written := 0
	for len(p) > 0 {
		n := len(p)
		for i, c := range p[:min(n, limit)] {
			if c == '\n' {
				n = i + 1
				break
			}
		}
		if n > limit {
			if err := s.splitLine(); err != nil {
				return written, err
			}
			n = limit
		}
		if err := s.record(p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// splitLine is called before a line too long for one record is split:
// the first time it says so on stderr; with --strict it refuses.
func (s *ringSink) splitLine() error {
	limit := s.ring.MaxRecord()
	if s.strict {
		return fmt.Errorf("%w: a line is longer than the ring's largest record (%d bytes), and --strict refuses to split it",
			shmbuf.ErrTooLarge, limit)
	}
	if !s.split {
		s.split = true
		t := target{op: "write", addr: s.addr}
		fmt.Fprintln(s.stderr, t.failf("a line longer than the ring's largest record (%d bytes) was split into several records; --strict refuses such lines", limit))
	}
	return nil
}

// record writes one record, under the stall watch.
func (s *ringSink) record(p []byte) error {
	s.watch.writing.Store(true)
	_, err := s.w.WriteContext(s.ctx, p)
	s.watch.writing.Store(false)
	s.watch.progress.Add(1)
	if err == nil {
		s.meter.add(len(p))
	}
	return err
}

// stream copies in into the ring record by record as it arrives, without
// holding the whole input in memory. When a signal ends the context, the
// input already read is written (a partial last line as a final record)
// unless that means waiting for space.
func (s *ringSink) stream(in *input) error {
	if s.chunk {
		return s.streamChunks(in)
	}
	br := bufio.NewReaderSize(in, max(s.ring.MaxRecord(), 16))
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if errors.Is(err, bufio.ErrBufferFull) {
				if serr := s.splitLine(); serr != nil {
					return serr
				}
			}
			if n, werr := s.write(chunk); werr != nil {
				return s.writeErr(werr, len(chunk)-n+br.Buffered()+in.discard())
			}
		}
		var stopped *interrupted
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &stopped):
			return stopped
		default:
			return fmt.Errorf("reading standard input: %w", err)
		}
	}
}

// writeErr is the error of a write that failed with unwritten bytes of
// input left: after a signal or --timeout, one line saying how much was
// lost.
func (s *ringSink) writeErr(err error, unwritten int) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, context.Canceled) {
		return err
	}
	cause := context.Cause(s.ctx)
	var timeout *timedOut
	switch {
	case errors.As(cause, &timeout):
		return fmt.Errorf("gave up waiting for space in the ring after --timeout %v: %d bytes of input were not written",
			timeout.d, unwritten)
	case interruptCause(s.ctx) != nil:
		return fmt.Errorf("%w while waiting for space in the ring: %d bytes of input were not written", cause, unwritten)
	}
	return err
}

func (s *ringSink) banner() string {
	return quoteName(s.addr) + " (ring): each line you enter is one record"
}

// close ends the writer: when it is the last one, readers following the
// ring get end of stream after its records. With --sync it then flushes
// the ring, end of stream included, to its file.
func (s *ringSink) close() error {
	s.watch.stop()
	s.meter.stop()
	err := s.w.Close()
	if s.sync != nil {
		err = errors.Join(err, s.sync.stop())
	}
	return errors.Join(err, s.ring.Close())
}

// lockedWriter serialises the writes of several goroutines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// timedOut is the cause of a write given up after --timeout.
type timedOut struct{ d time.Duration }

func (e *timedOut) Error() string { return "--timeout " + e.d.String() + " passed" }

// stallNotice is how long a writer waits for space before it says why
// on stderr.
const stallNotice = time.Second

// stallTick is how often the stall watch looks.
const stallTick = 100 * time.Millisecond

// stallWatch watches a ring writer that may wait for space. A writer
// that has waited stallNotice in a ring that no reader reads says so on
// stderr, once (a block ring keeps records nobody has read: with no
// reader it fills up and waits for the first one, and nothing would tell
// the user why the pipeline hangs); after --timeout it gives up. The writer marks each write, so that the watch
// costs it two stores and an add per record and no system call.
type stallWatch struct {
	writing  atomic.Bool   // a write is in progress
	progress atomic.Uint64 // writes that returned

	quit chan struct{}
	once sync.Once
	done chan struct{}
}

// startStallWatch starts watching s's writes; the returned context, for
// the writes, ends with a *timedOut cause after timeout (0: never).
func startStallWatch(parent context.Context, s *ringSink, timeout time.Duration) (context.Context, *stallWatch) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &stallWatch{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cancel(nil)
		tick := time.NewTicker(stallTick)
		defer tick.Stop()
		var stalled time.Duration
		var last uint64
		noticed := false
		for {
			select {
			case <-w.quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if p := w.progress.Load(); p != last || !w.writing.Load() {
				last, stalled = p, 0
				continue
			}
			stalled += stallTick
			if !noticed && stalled >= stallNotice {
				noticed = s.noticeNoReader()
			}
			if timeout > 0 && stalled >= timeout {
				cancel(&timedOut{timeout})
				return
			}
		}
	}()
	return ctx, w
}

// noticeNoReader prints, when the ring is full because no reader reads
// the records it waits for, one line on stderr that says so and what to
// do: no reader is attached, or those attached started after records
// nobody has read (--from latest), which policy block keeps. It reports
// whether it printed.
func (s *ringSink) noticeNoReader() bool {
	st, err := s.ring.Stat()
	if err != nil || st.Policy != shmbuf.PolicyBlock {
		return false
	}
	why := "has no reader"
	if len(st.Readers) > 0 {
		for _, p := range st.Readers {
			if p.Cursor <= st.ReadMark {
				return false // a reader is behind: the writer waits for it
			}
		}
		why = "holds records no reader has read (a reader --from latest does not read those before it)"
	}
	name := s.addr
	if a := s.ring.Addr(); a.Backend() == shmbuf.POSIX {
		name = a.Name()
	}
	fmt.Fprintf(s.stderr, "shmbuf: waiting for a reader of %s: the ring is full and %s; start `shmbuf read -f %s` or use --policy overwrite\n",
		quoteName(s.addr), why, quoteName(name))
	return true
}

// stop ends the watch and waits for it.
func (w *stallWatch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}
