package bench

import (
	"errors"
	"time"
)

// ringBatchTransport is the ring used through its batch API, the way a
// program that moves many small records would use it, and the ring's
// answer to pipe-buffered: the writer gathers records in a 64 KiB buffer
// (one copy, as bufio makes) and publishes them with one WriteBatch when
// it is full or flushed; the reader takes every record published with one
// ReadBatch and verifies them in place, one by one. Wait adaptive, policy
// block, on /dev/shm.
type ringBatchTransport struct {
	ringTransport
}

// batchRecords bounds the records of one batch on either side.
const batchRecords = 1024

func (t ringBatchTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	s, err := t.ringTransport.Sender(spec, size, deadline)
	if err != nil {
		return nil, err
	}
	e := s.(*ringEnd)
	return &ringBatchSender{ringEnd: e, stage: make([]byte, 0, max(bufioSize, size)), recs: make([][]byte, 0, batchRecords)}, nil
}

func (t ringBatchTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	r, err := t.ringTransport.Receiver(spec, size, deadline)
	if err != nil {
		return nil, err
	}
	return &ringBatchReceiver{ringEnd: r.(*ringEnd), recs: make([][]byte, batchRecords)}, nil
}

// ringBatchSender copies each record into stage and sends the batch when
// stage or the record list is full, and on Flush.
type ringBatchSender struct {
	*ringEnd
	stage []byte
	recs  [][]byte
	one   [1][]byte
}

func (s *ringBatchSender) Send(rec []byte) error {
	if len(s.recs) == 0 && len(rec) >= cap(s.stage) {
		// A record that fills the stage alone goes straight into the
		// ring, without the copy, as bufio.Writer writes it straight
		// through (pipe-buffered).
		s.one[0] = rec
		_, err := s.w.WriteBatchContext(s.ctx, s.one[:])
		s.one[0] = nil
		return err
	}
	if len(s.recs) == cap(s.recs) || len(s.stage)+len(rec) > cap(s.stage) {
		if err := s.Flush(); err != nil {
			return err
		}
	}
	o := len(s.stage)
	s.stage = append(s.stage, rec...)
	s.recs = append(s.recs, s.stage[o:len(s.stage):len(s.stage)])
	return nil
}

func (s *ringBatchSender) Flush() error {
	if len(s.recs) == 0 {
		return nil
	}
	_, err := s.w.WriteBatchContext(s.ctx, s.recs)
	s.recs, s.stage = s.recs[:0], s.stage[:0]
	return err
}

func (s *ringBatchSender) Close() error {
	return errors.Join(s.Flush(), s.ringEnd.Close())
}

// ringBatchReceiver hands out the records of its last ReadBatch one by
// one; they stay valid until the next ReadBatch, which comes only after
// the last of them was handed out.
type ringBatchReceiver struct {
	*ringEnd
	recs [][]byte
	n, i int
}

func (r *ringBatchReceiver) Recv() ([]byte, error) {
	if r.i == r.n {
		n, err := r.rd.ReadBatch(r.ctx, r.recs)
		if err != nil {
			return nil, err
		}
		r.n, r.i = n, 0
	}
	rec := r.recs[r.i]
	r.i++
	return rec, nil
}
