package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmbuf/shmbuf"
)

// The journal is a small ring of the inbound bridge's own (policy
// overwrite, one writer) where it notes, for each JetStream message, the
// message's stream sequence and the position of its record in the ring:
// once before it commits the record (committing) and once after
// (written). A restarted bridge reads the last note: a written one says
// that every message up to its sequence is in the ring; a committing one
// is resolved by looking for the record at its position (see resolve).
// Redelivered messages at or below the sequence are then acknowledged
// and skipped: each message is written once.
//
// A note is journalNote bytes:
//
//	[0,8)   the stream sequence
//	[8,16)  the record's position in the ring
//	[16,24) the ring's digest (ringIdentity.id), so that notes about a
//	        ring since removed and created again are ignored
//	[24,32) the state: 1 committing, 2 written
const journalNote = 32

const (
	noteCommitting = 1
	noteWritten    = 2
)

type note struct {
	seq, pos, ring, state uint64
}

// journal is the open journal.
type journal struct {
	addr string
	r    *shmbuf.Ring
	w    *shmbuf.Writer
	buf  [journalNote]byte
}

// journalSize holds a few hundred notes: only the last one counts.
const journalSize = 16 << 10

func openJournal(addr string) (*journal, note, error) {
	r, err := openState(addr, journalSize, journalNote, shmbuf.PolicyOverwrite)
	if err != nil {
		return nil, note{}, err
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{})
	if err != nil {
		r.Close()
		if errors.Is(err, shmbuf.ErrWritersFull) {
			return nil, note{}, fmt.Errorf("%w: is another bridge running for this ring and consumer?", err)
		}
		return nil, note{}, err
	}
	j := &journal{addr: addr, r: r, w: w}
	last, err := j.last()
	if err != nil {
		j.close(false)
		return nil, note{}, err
	}
	return j, last, nil
}

// last reads the newest note (zero when there is none).
func (j *journal) last() (note, error) {
	rd, err := j.r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromOldest})
	if err != nil {
		return note{}, err
	}
	defer rd.Close()
	var n note
	for {
		rec, err := rd.TryNext()
		var lost *shmbuf.LostError
		switch {
		case err == nil:
			if len(rec) != journalNote {
				return note{}, &shmbuf.Error{Op: "bridge", Addr: j.addr, Err: fmt.Errorf("%w: journal note of %d bytes", shmbuf.ErrCorrupt, len(rec))}
			}
			n = note{binary.LittleEndian.Uint64(rec[0:]), binary.LittleEndian.Uint64(rec[8:]),
				binary.LittleEndian.Uint64(rec[16:]), binary.LittleEndian.Uint64(rec[24:])}
		case errors.As(err, &lost):
		case errors.Is(err, shmbuf.ErrEmpty) || isEnd(err):
			return n, nil
		default:
			return note{}, err
		}
	}
}

// note appends a note; it never waits (policy overwrite).
func (j *journal) note(n note) error {
	binary.LittleEndian.PutUint64(j.buf[0:], n.seq)
	binary.LittleEndian.PutUint64(j.buf[8:], n.pos)
	binary.LittleEndian.PutUint64(j.buf[16:], n.ring)
	binary.LittleEndian.PutUint64(j.buf[24:], n.state)
	_, err := j.w.Write(j.buf[:])
	return err
}

func (j *journal) close(remove bool) error {
	errs := []error{j.w.Close(), j.r.Close()}
	if remove {
		errs = append(errs, removeState(j.addr))
	}
	return errors.Join(errs...)
}

// resolve tells whether the record a bridge was committing when it died,
// at position pos of ring r, is in the ring. A committed record is still
// there to be found unless the ring's Head has passed pos (readers, or
// writers needing the space, moved it on): then known is false. A ring
// the bridge alone writes keeps Head where it was while the bridge is
// down, so this is known unless a reader of it moved Head past the
// record meanwhile. Under the ring's current semantics the probe's own
// reader releases, when it closes, the records up to pos.
func resolve(r *shmbuf.Ring, pos uint64) (committed, known bool, err error) {
	st, err := r.Stat()
	if err != nil {
		return false, false, err
	}
	if st.Head > pos {
		return false, false, nil
	}
	rd, err := r.NewReader(shmbuf.ReaderOptions{From: shmbuf.FromOldest})
	if err != nil {
		return false, false, err
	}
	defer rd.Close()
	for reaped := false; ; {
		_, err := rd.TryNext()
		switch {
		case err == nil:
			_, p := rd.Origin()
			if p == pos {
				return true, true, nil
			}
			if p > pos {
				return false, true, nil // a pad filled the dead claim
			}
		case errors.Is(err, shmbuf.ErrEmpty) && !reaped:
			// The dead bridge's claim, not yet turned into padding.
			if err := r.Reap(); err != nil {
				return false, false, err
			}
			reaped = true
		case errors.Is(err, shmbuf.ErrEmpty) || isEnd(err):
			return false, true, nil
		default:
			return false, false, err
		}
	}
}
