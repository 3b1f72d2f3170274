package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/shmbuf/shmbuf"
	"github.com/spf13/cobra"
)

// The ring kind's branches of create, write, read and stat live here,
// with the ring's own flags (--readers, --policy, --max-record, --wait,
// --from).

// ringCreateFlags are create's flags that only a ring takes.
var ringCreateFlags = []string{"readers", "policy", "max-record"}

// addRingCreateFlags registers create's ring flags on cmd.
func addRingCreateFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int("readers", 0, "ring: reader slots, readers attached at once (0: 16)")
	f.String("policy", "block", "ring: when full, writers wait for the slowest reader (block) or overwrite the oldest records (overwrite)")
	f.String("max-record", "", "ring: largest record, e.g. 4KiB (default: a quarter of --size, at most 16MiB)")
}

// checkNoRingFlags refuses create's ring flags for another kind, so that
// a typo in --kind does not silently drop them.
func checkNoRingFlags(cmd *cobra.Command, a shmbuf.Address, kind shmbuf.Kind) error {
	for _, name := range ringCreateFlags {
		if cmd.Flags().Changed(name) {
			return usagef("shmbuf: create %s: --%s applies only to --kind ring, not %v", a, name, kind)
		}
	}
	return nil
}

// createRing creates a ring segment of opts.Size data bytes.
func createRing(cmd *cobra.Command, a shmbuf.Address, opts shmbuf.CreateOptions) error {
	f := cmd.Flags()
	readers, _ := f.GetInt("readers")
	policyText, _ := f.GetString("policy")
	maxText, _ := f.GetString("max-record")
	if readers < 0 {
		return usagef("shmbuf: create %s: --readers %d: must be zero (the default, 16) or more", a, readers)
	}
	policy, err := shmbuf.ParsePolicy(policyText)
	if err != nil {
		return err
	}
	maxRecord := 0
	if maxText != "" {
		n, err := shmbuf.ParseSize(maxText)
		if err != nil {
			return &shmbuf.Error{Op: "create", Addr: a.String(), Err: fmt.Errorf("--max-record: %w", err)}
		}
		if n > int64(opts.Size) {
			return usagef("shmbuf: create %s: --max-record %s is larger than --size %s", a, maxText, shmbuf.FormatSize(opts.Size))
		}
		maxRecord = int(n)
	}
	r, err := shmbuf.CreateRing(a.String(), shmbuf.RingOptions{
		Size:      opts.Size,
		MaxRecord: maxRecord,
		Readers:   readers,
		Policy:    policy,
		Mode:      opts.Mode,
		Force:     opts.Force,
	})
	if err != nil {
		return err
	}
	return r.Close()
}

// ringSink is `shmbuf write` into a ring: the input becomes records, each
// ending at a newline or at the ring's largest record size, so that a
// reader prints exactly the bytes written, text or binary.
type ringSink struct {
	ring *shmbuf.Ring
	w    *shmbuf.Writer
	ctx  context.Context
	stop context.CancelFunc
}

// openRingSink opens a ring for `shmbuf write` and registers a writer.
// An interrupt (Ctrl-C, SIGTERM) while the writer waits for space ends
// the write; the records written so far stay.
func openRingSink(a shmbuf.Address, wait shmbuf.WaitStrategy) (sink, error) {
	r, err := shmbuf.OpenRing(a.String())
	if err != nil {
		return nil, err
	}
	w, err := r.NewWriter(shmbuf.WriterOptions{Wait: wait})
	if err != nil {
		r.Close()
		return nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &ringSink{ring: r, w: w, ctx: ctx, stop: stop}, nil
}

// put writes p as records of at most MaxRecord bytes, splitting after
// each newline.
func (s *ringSink) put(p []byte) error {
	limit := s.ring.MaxRecord()
	for len(p) > 0 {
		n := len(p)
		for i, c := range p[:min(n, limit)] {
			if c == '\n' {
				n = i + 1
				break
			}
		}
		n = min(n, limit)
		if _, err := s.w.WriteContext(s.ctx, p[:n]); err != nil {
			return s.writeErr(err)
		}
		p = p[n:]
	}
	return nil
}

// stream copies in into the ring record by record as it arrives, without
// holding the whole input in memory.
func (s *ringSink) stream(in io.Reader) error {
	br := bufio.NewReaderSize(in, max(s.ring.MaxRecord(), 16))
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if perr := s.put(chunk); perr != nil {
				return perr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return &shmbuf.Error{Op: "write", Addr: s.ring.Addr().String(), Err: fmt.Errorf("reading standard input: %w", err)}
		}
	}
}

func (s *ringSink) writeErr(err error) error {
	if s.ctx.Err() != nil {
		return &shmbuf.Error{Op: "write", Addr: s.ring.Addr().String(), Err: errors.New("interrupted while waiting for space in the ring")}
	}
	return err
}

func (s *ringSink) kind() string { return "ring: each line is one record" }

// close ends the writer: when it is the last one, readers following the
// ring get end of stream after its records.
func (s *ringSink) close() error {
	s.stop()
	err := s.w.Close()
	return errors.Join(err, s.ring.Close())
}

// readRing prints a ring's records for `shmbuf read`: the ones there now
// (without -f), or every one until the stream ends (with -f), each as the
// bytes written; a stream whose writers died ends with ErrWriterLost
// either way. A reader lapped under policy overwrite reports its loss on
// stderr, goes on, and makes the exit code 1.
func readRing(cmd *cobra.Command, a shmbuf.Address, o readOptions) error {
	r, err := shmbuf.OpenRing(a.String())
	if err != nil {
		return err
	}
	defer r.Close()
	rd, err := r.NewReader(shmbuf.ReaderOptions{Wait: o.wait, From: o.from})
	if err != nil {
		return err
	}
	defer rd.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Records are buffered and flushed before the reader waits or stops,
	// so a busy stream costs few writes and an idle one shows everything.
	bw := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
			return &shmbuf.Error{Op: "read", Addr: a.String(), Err: err}
		}
		return nil
	}
	lost, reaped := false, false
	for printed := 0; o.count == 0 || printed < o.count; {
		rec, err := rd.TryNext()
		if errors.Is(err, shmbuf.ErrEmpty) {
			if !o.follow {
				// Nothing more: find out once whether the writers died
				// (the stream then ends with ErrWriterLost) before
				// reporting the end.
				if reaped {
					break
				}
				reaped = true
				if err := r.Reap(); err != nil {
					return errors.Join(flush(), err)
				}
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			rec, err = rd.Next(ctx)
		}
		var le *shmbuf.LostError
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return errors.Join(flush(), lostStatus(lost))
		case ctx.Err() != nil:
			return errors.Join(flush(), lostStatus(lost)) // interrupted: the normal end of following
		case errors.As(err, &le):
			if ferr := flush(); ferr != nil {
				return ferr
			}
			fmt.Fprintln(cmd.ErrOrStderr(), errorLine(cmd.CommandPath(), &ranError{err}))
			lost = true
			continue
		default:
			return errors.Join(flush(), err)
		}
		if _, err := bw.Write(rec); err != nil {
			return flush()
		}
		printed++
	}
	return errors.Join(flush(), lostStatus(lost))
}

// lostStatus is the exit status of a read that lost records: they were
// reported on stderr as they were lost.
func lostStatus(lost bool) error {
	if lost {
		return &statusError{exitFailure}
	}
	return nil
}

// ringStat is the ring's part of `shmbuf stat`.
type ringStat struct {
	Capacity  int        `json:"capacity"`
	MaxRecord int        `json:"max_record"`
	Policy    string     `json:"policy"`
	Head      uint64     `json:"head"`
	Tail      uint64     `json:"tail"`
	Fill      uint64     `json:"fill"`
	Records   uint64     `json:"records"`
	Bytes     uint64     `json:"bytes"`
	Overruns  uint64     `json:"overruns"`
	Ended     string     `json:"ended,omitempty"`
	EndPos    uint64     `json:"end_pos,omitempty"`
	Writers   []ringPeer `json:"writers"`
	Readers   []ringPeer `json:"readers"`
}

type ringPeer struct {
	Slot    int    `json:"slot"`
	Pid     int    `json:"pid"`
	Alive   bool   `json:"alive"`
	Records uint64 `json:"records,omitempty"`
	Bytes   uint64 `json:"bytes,omitempty"`
	Cursor  uint64 `json:"cursor,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
}

// ringDetails returns the ring's part of `shmbuf stat`: capacity, policy,
// positions, fill, counters, writers and readers with their lag.
func ringDetails(a shmbuf.Address) (*ringStat, error) {
	r, err := shmbuf.OpenRing(a.String())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return nil, err
	}
	peers := func(ps []shmbuf.RingPeer) []ringPeer {
		out := make([]ringPeer, len(ps))
		for i, p := range ps {
			out[i] = ringPeer{Slot: p.Slot, Pid: p.Pid, Alive: p.Alive, Records: p.Records, Bytes: p.Bytes, Cursor: p.Cursor, Lag: p.Lag}
		}
		return out
	}
	return &ringStat{
		Capacity: st.Capacity, MaxRecord: st.MaxRecord, Policy: st.Policy.String(),
		Head: st.Head, Tail: st.Tail, Fill: st.Fill,
		Records: st.Records, Bytes: st.Bytes, Overruns: st.Overruns,
		Ended: st.Ended, EndPos: st.EndPos,
		Writers: peers(st.Writers), Readers: peers(st.Readers),
	}, nil
}

// printRingStat adds the ring's rows to stat's text output.
func printRingStat(row func(k, format string, args ...any), r *ringStat) {
	row("capacity", "%s", sizeText(int64(r.Capacity)))
	row("max record", "%s", sizeText(int64(r.MaxRecord)))
	row("policy", "%s", r.Policy)
	row("head", "%d", r.Head)
	row("tail", "%d", r.Tail)
	row("fill", "%d", r.Fill)
	row("records", "%d", r.Records)
	row("bytes", "%d", r.Bytes)
	row("overruns", "%d", r.Overruns)
	if r.Ended != "" {
		row("ended", "%s at %d", r.Ended, r.EndPos)
	} else {
		row("ended", "no")
	}
	alive := func(b bool) string {
		if b {
			return "running"
		}
		return "dead"
	}
	row("writers", "%d", len(r.Writers))
	for _, w := range r.Writers {
		row("  writer", "slot %d pid %d (%s), %d records, %d bytes", w.Slot, w.Pid, alive(w.Alive), w.Records, w.Bytes)
	}
	row("readers", "%d", len(r.Readers))
	for _, rd := range r.Readers {
		row("  reader", "slot %d pid %d (%s), cursor %d, lag %d bytes", rd.Slot, rd.Pid, alive(rd.Alive), rd.Cursor, rd.Lag)
	}
}
