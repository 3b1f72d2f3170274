package shmbuf

import (
	"runtime/debug"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// RingStat describes a ring at one moment. Counters are published by
// writers every 256 records and when they wait or close, so they may lag
// the stream slightly.
type RingStat struct {
	Capacity  int
	MaxRecord int
	Policy    Policy
	// Head is the oldest position still in the ring, Tail the end of the
	// last claimed record; Fill is Tail minus the slowest live reader's
	// cursor (or Head when no reader is attached).
	Head, Tail, Fill uint64
	// Records and Bytes count the records and payload bytes written;
	// Overruns counts how often readers were lapped (policy overwrite).
	Records, Bytes, Overruns uint64
	// Ended reports that the last stream ended ("eof", "lost",
	// "aborted") at EndPos; "" while a stream is open or before any.
	Ended  string
	EndPos uint64
	// Writers and Readers are the occupied slots.
	Writers []RingPeer
	Readers []RingPeer
}

// RingPeer is one occupied slot.
type RingPeer struct {
	Slot  int
	Pid   int
	Alive bool
	// Records and Bytes are a writer's counters.
	Records, Bytes uint64
	// Cursor is a reader's published position and Lag how far it is
	// behind Tail, in bytes.
	Cursor, Lag uint64
}

// Stat reads the ring's positions, counters and slots.
func (r *Ring) Stat() (st RingStat, err error) {
	if err := r.hold("stat"); err != nil {
		return st, err
	}
	defer r.release()
	defer r.guard("stat", &err, debug.SetPanicOnFault(true))
	l := r.l
	ctl := l.Ctl
	st = RingStat{
		Capacity:  int(l.Capacity),
		MaxRecord: int(l.MaxRecord),
		Policy:    Policy(l.Policy),
		Head:      ctl.Head.Load(),
		Tail:      ctl.Tail.Load(),
		Records:   ctl.ClosedRecords.Load(),
		Bytes:     ctl.ClosedBytes.Load(),
		Overruns:  ctl.Overruns.Load(),
	}
	floor := st.Head
	for i := range l.Writers {
		s := &l.Writers[i]
		state := s.State.Load()
		if layout.SlotStateOf(state) == layout.SlotFree {
			continue
		}
		p := RingPeer{Slot: i, Pid: int(layout.SlotPid(state)), Alive: slotAlive(state, s.Start.Load()),
			Records: s.Records.Load(), Bytes: s.Bytes.Load()}
		st.Records += p.Records
		st.Bytes += p.Bytes
		st.Writers = append(st.Writers, p)
	}
	if m, ok := minCursor(l); ok && l.Policy == uint32(PolicyBlock) {
		floor = m
	}
	for i := range l.Readers {
		s := &l.Readers[i]
		state := s.State.Load()
		if layout.SlotStateOf(state) == layout.SlotFree {
			continue
		}
		p := RingPeer{Slot: i, Pid: int(layout.SlotPid(state)), Alive: slotAlive(state, s.Start.Load()),
			Cursor: s.Cursor.Load()}
		if p.Cursor < st.Tail {
			p.Lag = st.Tail - p.Cursor
		}
		st.Readers = append(st.Readers, p)
	}
	if floor < st.Tail {
		st.Fill = st.Tail - floor
	}
	if e := ctl.End.Load(); e != 0 && ctl.Attached.Load() == 0 {
		st.EndPos = e &^ layout.EndMask
		st.Ended = [...]string{"", "eof", "lost", "aborted", "", "", "", ""}[e&layout.EndMask]
	}
	return st, nil
}
