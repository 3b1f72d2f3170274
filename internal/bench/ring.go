package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shmbuf/shmbuf"
)

// ringTransport is shmbuf's ring: a bounded stream of records in shared
// memory, policy block (the writer waits for the reader, nothing is lost),
// with one of the three wait strategies, on a /dev/shm segment or a
// System V one. The writer copies each record in with Write; the reader
// verifies it in place with the zero-copy Next.
type ringTransport struct {
	traits
	wait shmbuf.WaitStrategy
	sysv bool
}

func (ringTransport) Unsupported(size int) string {
	if size > MaxSize {
		return fmt.Sprintf("above the largest ring record bench uses (%s)", sizeLabel(MaxSize))
	}
	return ""
}

// ringSize is four records, at least 1 MiB: the ring holds two of the
// largest records, and a writer running flat out has room to get ahead.
// 1 MiB is the ring of the Go benchmark (BenchmarkRing_Throughput), so
// that both measure the same transfer.
func ringSize(size int) int64 { return max(1<<20, 4*int64(size)) }

func (t ringTransport) Create(env *Env, size int) (*Channel, error) {
	return t.createShared(env, size, 1, 1)
}

// createShared makes a ring with slots for writers writers and readers
// readers: the scaling measurement's one ring for many processes.
func (t ringTransport) createShared(env *Env, size, writers, readers int) (*Channel, error) {
	opts := shmbuf.RingOptions{Size: ringSize(size), MaxRecord: size, Readers: readers, Writers: writers}
	for range 16 {
		addr := env.Name()
		if t.sysv {
			addr = fmt.Sprintf("sysv:%d", 0x5b000000+rand.IntN(0x00ffffff))
		}
		r, err := shmbuf.CreateRing(addr, opts)
		if t.sysv && errors.Is(err, shmbuf.ErrExist) {
			continue // someone else's key; draw another
		}
		if err != nil {
			return nil, err
		}
		r.Close()
		ch := &Channel{Spec: ChannelSpec{Addr: addr, FD: -1}}
		return env.own("segment "+addr, ch, func() error { return shmbuf.Remove(addr) }), nil
	}
	return nil, errors.New("no free System V key after 16 tries")
}

type ringEnd struct {
	r    *shmbuf.Ring
	w    *shmbuf.Writer
	rd   *shmbuf.Reader
	size int
	ctx  context.Context
	stop context.CancelFunc
}

func (t ringTransport) open(spec ChannelSpec, size int, deadline time.Time) (*ringEnd, error) {
	r, err := shmbuf.OpenRing(spec.Addr)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithDeadline(context.Background(), deadline)
	return &ringEnd{r: r, size: size, ctx: ctx, stop: stop}, nil
}

func (t ringTransport) Sender(spec ChannelSpec, size int, deadline time.Time) (Sender, error) {
	e, err := t.open(spec, size, deadline)
	if err != nil {
		return nil, err
	}
	if e.w, err = e.r.NewWriter(shmbuf.WriterOptions{Wait: t.wait}); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Receiver starts at the oldest record: the reader attaches before the
// writer is told to start, so it sees the stream from its first record.
func (t ringTransport) Receiver(spec ChannelSpec, size int, deadline time.Time) (Receiver, error) {
	e, err := t.open(spec, size, deadline)
	if err != nil {
		return nil, err
	}
	if e.rd, err = e.r.NewReader(shmbuf.ReaderOptions{Wait: t.wait, From: shmbuf.FromOldest}); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *ringEnd) Alloc() []byte { return make([]byte, e.size) }

func (e *ringEnd) Send(rec []byte) error {
	_, err := e.w.WriteContext(e.ctx, rec)
	return err
}

func (e *ringEnd) Recv() ([]byte, error) { return e.rd.Next(e.ctx) }

func (e *ringEnd) Close() error {
	var errs []error
	if e.w != nil {
		errs = append(errs, e.w.Close())
	}
	if e.rd != nil {
		errs = append(errs, e.rd.Close())
	}
	errs = append(errs, e.r.Close())
	e.stop()
	return errors.Join(errs...)
}
