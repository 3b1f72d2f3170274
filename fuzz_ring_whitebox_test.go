package shmbuf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
)

// FuzzRingData opens a ring whose header is valid but whose data area,
// positions and slots hold arbitrary bytes (what a hostile peer with
// write access controls), then reads, writes and stats it. Every outcome
// must be a value or an error: no panic, no read outside the mapping, no
// hang (each call is bounded by a deadline).
func FuzzRingData(f *testing.F) {
	name := fmt.Sprintf("shmbuf-fuzz-ring-%d", os.Getpid())
	r, err := CreateRing(name, RingOptions{Size: 256, MaxRecord: 64, Readers: 2, Writers: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close(); Remove(name) })
	// Seeds: a ring with a few real records, and a pad at the lap's end.
	w, err := r.NewWriter(WriterOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		w.Write([]byte(fmt.Sprintf("record %d", i)))
	}
	w.Close()
	valid := append([]byte(nil), r.l.Data...)
	ctl := func(tail, head uint64) []byte {
		b := binary.LittleEndian.AppendUint64(nil, tail)
		return binary.LittleEndian.AppendUint64(b, head)
	}
	f.Add(valid, ctl(r.l.Ctl.Tail.Load(), r.l.Ctl.Head.Load()))
	f.Add(make([]byte, 256), ctl(0, 0))
	f.Add(valid, ctl(1<<63, 0))
	f.Add(valid, ctl(7, 3))
	f.Fuzz(func(t *testing.T, data, positions []byte) {
		for i := range r.l.Data {
			if i < len(data) {
				r.l.Data[i] = data[i]
			} else {
				r.l.Data[i] = 0
			}
		}
		var tail, head uint64
		if len(positions) >= 16 {
			tail = binary.LittleEndian.Uint64(positions)
			head = binary.LittleEndian.Uint64(positions[8:])
		}
		r.l.Ctl.Tail.Store(tail)
		r.l.Ctl.Head.Store(head)
		r.l.Ctl.End.Store(tail)
		for i := range r.l.Readers {
			r.l.Readers[i].State.Store(0)
		}
		for i := range r.l.Writers {
			r.l.Writers[i].State.Store(0)
		}

		rd, err := r.NewReader(ReaderOptions{})
		if err != nil {
			return
		}
		defer rd.Close()
		for range 64 {
			rec, err := rd.TryNext()
			if err != nil {
				break
			}
			if len(rec) > r.MaxRecord() {
				t.Fatalf("record of %d bytes, max %d", len(rec), r.MaxRecord())
			}
		}
		// The waiting path, on some inputs only: each costs its deadline.
		if len(positions) > 16 && positions[16]%8 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
			defer cancel()
			rd.Next(ctx)
		}
		if len(positions) > 16 && positions[16]%8 == 1 {
			if w, err := r.NewWriter(WriterOptions{}); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				defer cancel()
				w.WriteContext(ctx, []byte("fuzz"))
				w.Close()
			}
		}
		if _, err := r.Stat(); err != nil {
			t.Fatalf("Stat: %v", err)
		}
	})
}

// FuzzRingControl opens rings (one per policy) whose data area holds a
// few real records but whose control words (Tail, Head and its triple,
// End, the slots) hold arbitrary values, then reads, waits and writes.
// Besides no panic and no hang, it checks that every wait is bounded by
// the sanity checks: a wait that runs out its deadline leaves a ring the
// checks accept (on one they reject, it must end with ErrCorrupt), and no
// call mistakes the state for a truncated segment.
func FuzzRingControl(f *testing.F) {
	defer func(d time.Duration) { checkEvery = d }(checkEvery)
	checkEvery = time.Millisecond // two ticks take 2 ms, not 400
	var rings [2]*Ring
	var valid [2][]byte
	for pol := range rings {
		name := fmt.Sprintf("shmbuf-fuzz-ctl-%d-%d", os.Getpid(), pol)
		r, err := CreateRing(name, RingOptions{Size: 256, MaxRecord: 64, Readers: 2, Writers: 2, Policy: Policy(pol)})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { r.Close(); Remove(name) })
		w, err := r.NewWriter(WriterOptions{})
		if err != nil {
			f.Fatal(err)
		}
		for i := range 5 {
			w.Write([]byte(fmt.Sprintf("record %d", i)))
		}
		w.Close()
		rings[pol], valid[pol] = r, append([]byte(nil), r.l.Data...)
	}
	// The words, in the order the input sets them (8 bytes each).
	words := func(l *layout.Ring) []*atomic.Uint64 {
		c := l.Ctl
		ws := []*atomic.Uint64{&c.Tail, &c.Head, &c.End, &c.HeadGen,
			&c.HeadCopy[0].Pos, &c.HeadCopy[0].Records, &c.HeadCopy[0].Bytes,
			&c.HeadCopy[1].Pos, &c.HeadCopy[1].Records, &c.HeadCopy[1].Bytes,
			&c.WalkToken, &c.Overruns}
		for i := range l.Readers {
			ws = append(ws, &l.Readers[i].State, &l.Readers[i].Start, &l.Readers[i].Cursor)
		}
		for i := range l.Writers {
			ws = append(ws, &l.Writers[i].State, &l.Writers[i].Start)
		}
		// Last, so that the seeds above keep their meaning.
		return append(ws, &c.ReadMark)
	}
	seed := func(pol byte, vals ...uint64) []byte {
		b := []byte{pol}
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		return b
	}
	// The state the seed records leave (5 records of 24 bytes, Head 0,
	// stream ended at 120 by the Close), then one corrupt word at a time.
	const tail, end = 120, 120 | layout.EndEOF
	for pol := byte(0); pol < 2; pol++ {
		triple := []uint64{0, 0, 0}
		f.Add(seed(pol, tail, 0, end, 0))
		f.Add(seed(pol, 0x4141414141414141, 0, end, 0))
		f.Add(seed(pol, tail, 0x4141414141414141, end, 0))
		f.Add(seed(pol, tail, 200, end, 0))
		f.Add(seed(pol, tail, 0, ^uint64(0), 0))
		f.Add(seed(pol, tail, 0, 0x4141414141414141, 0))
		f.Add(seed(pol, append([]uint64{tail, 0, end, 0}, append(triple, 96, 3, 30, 0, 0)...)...))
		f.Add(seed(pol, append([]uint64{tail, 64, end, 0}, append(triple, 0, 0, 0, 0, 0, 0x4141414141414141, 1, 0)...)...))
		f.Add(seed(pol, append([]uint64{tail, 0, 0, 0}, append(triple, 0, 0, 0, 0, 0, layout.SlotState(0, 1, layout.SlotActive), ^uint64(0), 8)...)...))
		f.Add(seed(pol, append([]uint64{1 << 20, 1<<20 - 256, 0, 0}, append(triple, 0, 0, 0, 0, 0, layout.SlotState(0, 1, layout.SlotActive), 1, 8)...)...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		pol := in[0] & 1
		r := rings[pol]
		l := r.l
		copy(l.Data, valid[pol])
		vals := in[1:]
		for _, w := range words(l) {
			var v uint64
			if len(vals) >= 8 {
				v = binary.LittleEndian.Uint64(vals)
				vals = vals[8:]
			}
			w.Store(v)
		}
		noTruncation := func(what string, err error) {
			if errors.Is(err, ErrTruncated) {
				t.Fatalf("%s on a mapped ring: %v", what, err)
			}
		}
		rd, err := r.NewReader(ReaderOptions{})
		noTruncation("NewReader", err)
		if err == nil {
			for range 64 {
				rec, err := rd.TryNext()
				noTruncation("TryNext", err)
				if err != nil && !isLostErr(err) {
					break
				}
				if len(rec) > r.MaxRecord() {
					t.Fatalf("record of %d bytes, max %d", len(rec), r.MaxRecord())
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			_, err := rd.Next(ctx)
			cancel()
			noTruncation("Next", err)
			if errors.Is(err, context.DeadlineExceeded) {
				if cerr := rd.check(rd.pos); cerr != nil {
					// Two check ticks (2 ms) may take longer than 30 ms
					// on a loaded machine: wait for them generously.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := rd.Next(ctx)
					cancel()
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("Next on a ring its check rejects (%v): %v, want ErrCorrupt", cerr, err)
					}
				}
			}
			rd.Close()
		}
		w, err := r.NewWriter(WriterOptions{})
		noTruncation("NewWriter", err)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			for range 16 {
				if _, err = w.WriteContext(ctx, []byte("fuzz record")); err != nil {
					break
				}
			}
			cancel()
			noTruncation("WriteContext", err)
			if errors.Is(err, context.DeadlineExceeded) {
				if cerr := checkRing(l, "write", r.addr); cerr != nil {
					// As for Next: generously, on a loaded machine.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := w.WriteContext(ctx, []byte("fuzz record"))
					cancel()
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("WriteContext on a ring the checks reject (%v): %v, want ErrCorrupt", cerr, err)
					}
				}
			}
			w.Close()
		}
		if _, err := r.Stat(); err != nil {
			t.Fatalf("Stat: %v", err)
		}
	})
}

func isLostErr(err error) bool {
	var le *LostError
	return errors.As(err, &le)
}
