package shmbuf

import (
	"github.com/shmbuf/shmbuf/internal/layout"
	"runtime/debug"
)

// RingStat describes a ring at one moment. Counters are published by
// writers every 256 records and when they wait or close, so they may lag
// the stream slightly. Its JSON form is the "ring" object of
// docs/JSON.md.
type RingStat struct {
	Capacity  int    `json:"capacity"`
	MaxRecord int    `json:"max_record"`
	Policy    Policy `json:"policy"`
	// Head is the position of the oldest record still in the ring, Tail
	// the end of the last claimed record, and Fill the bytes between
	// them: what the ring holds. ReadMark (policy block) is how far
	// records were read: every record before it was read by some reader,
	// so writers may reuse its space once no live reader needs it;
	// records from ReadMark to Tail nobody has read yet.
	Head     uint64 `json:"head"`
	ReadMark uint64 `json:"read_mark"`
	Tail     uint64 `json:"tail"`
	Fill     uint64 `json:"fill"`
	// Records and Bytes count the records and payload bytes written;
	// Overruns counts how often readers were lapped (policy overwrite).
	Records  uint64 `json:"records"`
	Bytes    uint64 `json:"bytes"`
	Overruns uint64 `json:"overruns"`
	// Ended reports that the last stream ended ("eof", "lost",
	// "aborted") at EndPos; "" while a stream is open or before any.
	Ended  string `json:"ended,omitempty"`
	EndPos uint64 `json:"end_pos,omitempty"`
	// WriterSlots and ReaderSlots are how many writers and readers may
	// be attached at once.
	WriterSlots int `json:"writer_slots"`
	ReaderSlots int `json:"reader_slots"`
	// Writers and Readers are the occupied slots; len(Writers) is the
	// number of writers attached.
	Writers []RingPeer `json:"writers"`
	Readers []RingPeer `json:"readers"`
}

// RingPeer is one occupied slot.
type RingPeer struct {
	Slot int `json:"slot"`
	// Pid is the pid the peer recorded, in its own pid namespace.
	Pid int `json:"pid"`
	// Alive is false only on proof that the peer died: its slot lock is
	// free (file-backed rings), or it is a process of this pid namespace
	// that is gone (System V; a peer of another namespace counts as
	// alive). A dead peer's slot is freed by the next waiting peer.
	Alive bool `json:"alive"`
	// Records and Bytes are a writer's counters.
	Records uint64 `json:"records,omitempty"`
	Bytes   uint64 `json:"bytes,omitempty"`
	// Cursor is a reader's published position and Lag how far it is
	// behind Tail, in bytes.
	Cursor uint64 `json:"cursor,omitempty"`
	Lag    uint64 `json:"lag,omitempty"`
}

// Stat reads the ring's positions, counters and slots.
func (r *Ring) Stat() (st RingStat, err error) {
	if err := r.hold("stat"); err != nil {
		return st, err
	}
	defer r.release()
	defer faultGuard(&err, "stat", r.addr, nil, nil, debug.SetPanicOnFault(true))
	l := r.l
	ctl := l.Ctl
	st = RingStat{
		Capacity:  int(l.Capacity),
		MaxRecord: int(l.MaxRecord),
		Policy:    Policy(l.Policy),
		Head:      ctl.Head.Load(),
		ReadMark:  ctl.ReadMark.Load(),
		Tail:      ctl.Tail.Load(),
		Records:   ctl.ClosedRecords.Load(),
		Bytes:     ctl.ClosedBytes.Load(),
		Overruns:  ctl.Overruns.Load(),

		WriterSlots: len(l.Writers),
		ReaderSlots: len(l.Readers),
		Writers:     []RingPeer{}, // JSON [], not null
		Readers:     []RingPeer{},
	}
	for i := range l.Writers {
		s := &l.Writers[i]
		state := s.State.Load()
		if layout.SlotStateOf(state) == layout.SlotFree {
			continue
		}
		p := RingPeer{Slot: i, Pid: int(layout.SlotPid(state)),
			Alive:   r.peerAlive(&s.State, &s.Start, &s.Owner, layout.WriterLock(i)),
			Records: s.Records.Load(), Bytes: s.Bytes.Load()}
		st.Records += p.Records
		st.Bytes += p.Bytes
		st.Writers = append(st.Writers, p)
	}
	for i := range l.Readers {
		s := &l.Readers[i]
		state := s.State.Load()
		if layout.SlotStateOf(state) == layout.SlotFree {
			continue
		}
		p := RingPeer{Slot: i, Pid: int(layout.SlotPid(state)),
			Alive:  r.peerAlive(&s.State, &s.Start, &s.Owner, layout.ReaderLock(i)),
			Cursor: s.Cursor.Load()}
		if p.Cursor < st.Tail {
			p.Lag = st.Tail - p.Cursor
		}
		st.Readers = append(st.Readers, p)
	}
	if st.Head < st.Tail {
		st.Fill = st.Tail - st.Head
	}
	if e := ctl.End.Load(); e != 0 && len(st.Writers) == 0 {
		st.EndPos = e &^ layout.EndMask
		st.Ended = [...]string{"", "eof", "lost", "aborted", "", "", "", ""}[e&layout.EndMask]
	}
	return st, nil
}
