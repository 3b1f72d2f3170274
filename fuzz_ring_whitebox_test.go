package shmbuf

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"
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
