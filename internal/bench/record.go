package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MinSize is the smallest record: the 8-byte sequence number.
const MinSize = 8

// endSeq marks the last record of a stream. It is an ordinary record in
// every other respect, so the reader verifies it like the others.
const endSeq = 1<<63 - 1

// variants is how many body patterns alternate; a record's body is
// pattern seq%variants, so bytes left over from one of the previous three
// records never pass as the current one.
const variants = 4

// pattern holds the precomputed bodies for one record size.
type pattern struct {
	size   int
	bodies [variants][]byte
}

func newPattern(size int) *pattern {
	p := &pattern{size: size}
	n := bodyLen(size)
	for v := range p.bodies {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*131 + v*29 + i>>8 + 1)
		}
		p.bodies[v] = b
	}
	return p
}

// bodyLen is the pattern part of a record of size bytes.
func bodyLen(size int) int {
	if size >= 16 {
		return size - 16
	}
	return size - 8
}

// fill writes the whole record with sequence number seq into buf.
func (p *pattern) fill(buf []byte, seq uint64) {
	copy(buf[8:], p.bodies[seq%variants])
	p.stamp(buf, seq)
}

// stamp writes only the sequence number and trailer; buf must already
// hold body seq%variants (the writer keeps one buffer per variant).
func (p *pattern) stamp(buf []byte, seq uint64) {
	binary.LittleEndian.PutUint64(buf, seq)
	if p.size >= 16 {
		binary.LittleEndian.PutUint64(buf[p.size-8:], ^seq)
	}
}

// buffers returns one filled record buffer per variant; the writer sends
// buffers[seq%variants] after stamping it, so no record is built byte by
// byte on the hot path.
func (p *pattern) buffers(alloc func() []byte) [variants][]byte {
	var bufs [variants][]byte
	for v := range bufs {
		bufs[v] = alloc()
		p.fill(bufs[v], uint64(v))
	}
	return bufs
}

// check verifies every byte of rec and returns its sequence number.
func (p *pattern) check(rec []byte) (uint64, error) {
	if len(rec) != p.size {
		return 0, fmt.Errorf("record of %d bytes, want %d", len(rec), p.size)
	}
	seq := binary.LittleEndian.Uint64(rec)
	if p.size >= 16 {
		if t := binary.LittleEndian.Uint64(rec[p.size-8:]); t != ^seq {
			return seq, fmt.Errorf("record %d: trailer says %d (torn record)", seq, ^t)
		}
	}
	body := rec[8 : 8+bodyLen(p.size)]
	if !bytes.Equal(body, p.bodies[seq%variants]) {
		want := p.bodies[seq%variants]
		i := 0
		for i < len(body) && body[i] == want[i] {
			i++
		}
		return seq, fmt.Errorf("record %d: byte %d is %#02x, want %#02x", seq, 8+i, body[i], want[i])
	}
	return seq, nil
}

// Records of the scaling measurement carry the writer's number above
// writerShift in their sequence number; a writer's own count is below it,
// and scaledEnd is its end marker.
const (
	writerShift = 40
	scaledEnd   = 1<<writerShift - 1
)

// minStampedSize is the smallest record that carries a send time: the
// sequence number, the time (bytes 8 to 16), the trailer.
const minStampedSize = 24

// stampTime writes a send time over bytes 8 to 16 of the record.
func stampTime(rec []byte, ns int64) { binary.LittleEndian.PutUint64(rec[8:], uint64(ns)) }

// checkStamped is check for a record whose bytes 8 to 16 hold a send time
// instead of the pattern; it returns the sequence number and the time.
func (p *pattern) checkStamped(rec []byte) (seq uint64, sent int64, err error) {
	if len(rec) != p.size || p.size < minStampedSize {
		return 0, 0, fmt.Errorf("record of %d bytes, want %d", len(rec), p.size)
	}
	seq = binary.LittleEndian.Uint64(rec)
	sent = int64(binary.LittleEndian.Uint64(rec[8:]))
	if t := binary.LittleEndian.Uint64(rec[p.size-8:]); t != ^seq {
		return seq, sent, fmt.Errorf("record %d: trailer says %d (torn record)", seq, ^t)
	}
	body, want := rec[16:p.size-8], p.bodies[seq%variants][8:]
	if !bytes.Equal(body, want) {
		i := 0
		for body[i] == want[i] {
			i++
		}
		return seq, sent, fmt.Errorf("record %d: byte %d is %#02x, want %#02x", seq, 16+i, body[i], want[i])
	}
	return seq, sent, nil
}

// sequencer follows the sequence numbers a reader sees. Lossless
// transports must deliver 1, 2, 3, …; latest-value transports must deliver
// strictly increasing numbers, and the gaps are counted as lost.
type sequencer struct {
	lossy bool
	next  uint64 // the sequence number expected next
	lost  uint64
}

func newSequencer(lossy bool) sequencer { return sequencer{lossy: lossy, next: 1} }

// see records seq; it returns an error for a loss, a duplicate or a
// reordering that the transport's semantics do not allow.
func (s *sequencer) see(seq uint64) error {
	switch {
	case seq == s.next:
	case seq < s.next:
		return fmt.Errorf("record %d arrived after %d (duplicate or reordered)", seq, s.next-1)
	case !s.lossy:
		return fmt.Errorf("records %d..%d lost (expected %d, got %d)", s.next, seq-1, s.next, seq)
	default:
		s.lost += seq - s.next
	}
	s.next = seq + 1
	return nil
}

// MaxSize is the largest record bench measures: the largest record of the
// rings it creates (whose capacity is four records, at least 1 MiB).
const MaxSize = 16 << 20
