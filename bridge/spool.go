package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmbuf/shmbuf"
)

// The spool is a ring of the outbound bridge's own (policy block, one
// writer, one reader) that holds a copy of every record published to
// JetStream and not yet acknowledged. The bridge copies a record in before
// it publishes it, and its reader passes the copy once JetStream has
// acknowledged it, so the reader's cursor never passes a record that is
// not stored: whatever the source ring does with the records the bridge
// read, a bridge killed with kill -9 finds the unacknowledged ones in the
// spool when it starts again. The spool's size bounds what is in flight.
//
// An entry is spoolHdr bytes, then the record:
//
//	[0,8)   the origin's digest (origin.id)
//	[8,16)  the record's position in the source ring
//	[16,24) the source ring's creation time (Unix nanoseconds)
//	[24,28) the writer slot
//	[28,32) zero
const spoolHdr = 32

type spoolEntry struct {
	id, pos uint64
	created int64
	writer  int
	data    []byte
}

func putSpoolHdr(b []byte, e spoolEntry) {
	binary.LittleEndian.PutUint64(b[0:], e.id)
	binary.LittleEndian.PutUint64(b[8:], e.pos)
	binary.LittleEndian.PutUint64(b[16:], uint64(e.created))
	binary.LittleEndian.PutUint32(b[24:], uint32(e.writer))
	binary.LittleEndian.PutUint32(b[28:], 0)
}

var errSpoolEntry = errors.New("spool entry shorter than its header")

func parseSpool(b []byte) (spoolEntry, error) {
	if len(b) < spoolHdr {
		return spoolEntry{}, errSpoolEntry
	}
	return spoolEntry{
		id:      binary.LittleEndian.Uint64(b[0:]),
		pos:     binary.LittleEndian.Uint64(b[8:]),
		created: int64(binary.LittleEndian.Uint64(b[16:])),
		writer:  int(binary.LittleEndian.Uint32(b[24:])),
		data:    b[spoolHdr:],
	}, nil
}

// spool is the open spool.
type spool struct {
	addr string
	r    *shmbuf.Ring
	w    *shmbuf.Writer
	rd   *shmbuf.Reader
	// window is how many bytes of entries may be unacknowledged: half
	// the spool, less one largest entry (the padding of a wrap), so that
	// writing an entry never waits for the reader, whose cursor lags by
	// up to an eighth of the ring.
	window int64
}

// spoolSize is the spool for records of up to maxRecord bytes: room for
// at least eight of the largest, 1 MiB at least.
func spoolSize(maxRecord int) int64 {
	return max(1<<20, 8*recordSize(maxRecord+spoolHdr))
}

// openSpool opens the spool at addr for a source ring whose records are
// up to maxRecord bytes, attaching its reader (the writer attaches later,
// in begin, so that the entries of a bridge that died end their stream
// first).
func openSpool(addr string, maxRecord int) (*spool, error) {
	r, err := openState(addr, spoolSize(maxRecord), maxRecord+spoolHdr, shmbuf.PolicyBlock)
	if err != nil {
		return nil, err
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromOldest})
	if err != nil {
		r.Close()
		if errors.Is(err, shmbuf.ErrReadersFull) {
			return nil, fmt.Errorf("%w: is another bridge running for this ring and stream?", err)
		}
		return nil, err
	}
	s := &spool{addr: addr, r: r, rd: rd}
	s.window = int64(r.Capacity())/2 - recordSize(r.MaxRecord())
	return s, nil
}

// leftover returns the next entry a bridge that died left, or ok false
// when there is none left. The entry is valid until the next call.
func (s *spool) leftover() (e spoolEntry, ok bool, err error) {
	for reaped := false; ; {
		rec, err := s.rd.TryNext()
		switch {
		case err == nil:
			e, err := parseSpool(rec)
			return e, err == nil, err
		case errors.Is(err, shmbuf.ErrEmpty) && !reaped:
			// A dead bridge's claim that it never committed: the
			// reaper skips it and ends its stream.
			if err := s.r.Reap(); err != nil {
				return e, false, err
			}
			reaped = true
		case errors.Is(err, shmbuf.ErrEmpty) || isEnd(err):
			return e, false, nil
		default:
			return e, false, err
		}
	}
}

// begin attaches the writer.
func (s *spool) begin() error {
	w, err := s.r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		if errors.Is(err, shmbuf.ErrWritersFull) {
			return fmt.Errorf("%w: is another bridge running for this ring and stream?", err)
		}
		return err
	}
	s.w = w
	return nil
}

// add copies a record into the spool.
func (s *spool) add(e spoolEntry) error {
	buf, err := s.w.Claim(spoolHdr + len(e.data))
	if err != nil {
		return err
	}
	putSpoolHdr(buf, e)
	copy(buf[spoolHdr:], e.data)
	return s.w.Commit()
}

// done passes the oldest entry, which JetStream acknowledged; pos is its
// position, checked.
func (s *spool) done(pos uint64) error {
	rec, err := s.rd.TryNext()
	if err != nil {
		return fmt.Errorf("spool %s: the acknowledged record is not there: %w", s.addr, err)
	}
	e, err := parseSpool(rec)
	if err != nil || e.pos != pos {
		return &shmbuf.Error{Op: "bridge", Addr: s.addr, Err: fmt.Errorf("%w: spool entry for position %d where %d was expected", shmbuf.ErrCorrupt, e.pos, pos)}
	}
	return nil
}

// close closes the spool and, when nothing is left unacknowledged,
// removes it.
func (s *spool) close(empty bool) error {
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	errs = append(errs, s.rd.Close(), s.r.Close())
	if empty {
		errs = append(errs, removeState(s.addr))
	}
	return errors.Join(errs...)
}
