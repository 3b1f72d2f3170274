package shmbuf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/layout"
	"github.com/shmbuf/shmbuf/internal/proc"
)

// These tests leave a writer slot in a state that only a process killed
// at one exact instruction leaves, owned by a dead process, and check
// that readers still learn how the stream ended instead of waiting
// forever.

// whiteboxRing creates a ring on backend ("posix" or "sysv"), removed at
// cleanup.
func whiteboxRing(t *testing.T, backend string, opts RingOptions) *Ring {
	t.Helper()
	for range 20 {
		addr := fmt.Sprintf("shmbuf-wb-%d-%d", os.Getpid(), rand.Uint64())
		if backend == "sysv" {
			addr = fmt.Sprintf("sysv:0x%08x", 0x5c000000|rand.Uint32N(1<<24))
		}
		r, err := CreateRing(addr, opts)
		if errors.Is(err, ErrExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); Remove(addr) })
		return r
	}
	t.Fatal("no free address after 20 tries")
	return nil
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int32 {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return int32(cmd.Process.Pid)
}

// plantDeadWriter makes writer slot i look taken, in state, by a process
// of this pid namespace that died: on a file-backed ring nobody holds the
// slot's lock, on System V its pid is gone.
func plantDeadWriter(t *testing.T, r *Ring, i int, state uint64) {
	t.Helper()
	s := &r.l.Writers[i]
	gen := layout.NextGen(s.State.Load())
	s.Start.Store(1)
	s.Owner.Store(layout.OwnerWord(proc.Self().NS, gen))
	s.State.Store(layout.SlotState(gen, deadPid(t), state))
}

// TestRing_WriterDiedAttaching: a writer killed after taking its slot but
// before it became active wrote nothing: it is freed, and the stream that
// had already ended ends for readers with io.EOF, not a hang or a loss.
func TestRing_WriterDiedAttaching(t *testing.T) {
	for _, backend := range []string{"posix", "sysv"} {
		t.Run(backend, func(t *testing.T) {
			r := whiteboxRing(t, backend, RingOptions{Size: 4096, Writers: 2})
			w, err := r.NewWriter(WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("a"))
			w.Close()
			plantDeadWriter(t, r, 1, layout.SlotAttaching)
			rd, err := r.NewReader(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rec, err := rd.Next(ctx); err != nil || string(rec) != "a" {
				t.Fatalf("first record: %q, %v", rec, err)
			}
			start := time.Now()
			if _, err := rd.Next(ctx); err != io.EOF {
				t.Fatalf("after a writer died attaching: %v, want io.EOF", err)
			}
			t.Logf("end of stream seen %v after the reader started waiting", time.Since(start))
			if st := layout.SlotStateOf(r.l.Writers[1].State.Load()); st != layout.SlotFree {
				t.Fatalf("dead attaching writer's slot in state %d, want free", st)
			}
		})
	}
}

// TestRing_CloserDiedBeforeFreeing: a writer killed inside Close, after it
// recorded the end of stream and before it freed its slot, is reaped like
// any dead writer: readers get ErrWriterLost after its records.
func TestRing_CloserDiedBeforeFreeing(t *testing.T) {
	for _, backend := range []string{"posix", "sysv"} {
		t.Run(backend, func(t *testing.T) {
			r := whiteboxRing(t, backend, RingOptions{Size: 4096, Writers: 2})
			rd, err := r.NewReader(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := r.NewWriter(WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("a"))
			// What Close does up to the instruction it dies at.
			endStream(r.l, layout.EndEOF)
			plantDeadWriter(t, r, int(w.idx), layout.SlotActive)
			w.calls.shut() // the dead writer does nothing more
			w.calls.finish()
			if w.lf != nil {
				w.lf.Close() // the kernel drops a dead process's locks
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rec, err := rd.Next(ctx); err != nil || string(rec) != "a" {
				t.Fatalf("first record: %q, %v", rec, err)
			}
			if _, err := rd.Next(ctx); !errors.Is(err, ErrWriterLost) {
				t.Fatalf("after the closer died: %v, want ErrWriterLost", err)
			}
		})
	}
}

// TestRing_RecordWriterSlot: every record header names the writer slot
// that wrote it.
func TestRing_RecordWriterSlot(t *testing.T) {
	r := whiteboxRing(t, "posix", RingOptions{Size: 4096, Writers: 3})
	ws := make([]*Writer, 3)
	for i := range ws {
		w, err := r.NewWriter(WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	var pos uint64
	for round := range 4 {
		for i, w := range ws {
			if _, err := w.Write([]byte{byte(round), byte(i)}); err != nil {
				t.Fatal(err)
			}
			h := r.l.Hdr(pos & r.l.Mask)
			if got := layout.RecordWriter(h.Flags); got != int(w.idx) || h.Flags&layout.FlagPad != 0 {
				t.Fatalf("record at %d: flags %#x name writer slot %d, want %d", pos, h.Flags, got, w.idx)
			}
			pos += layout.RecordSize(2)
		}
	}
	for _, w := range ws {
		w.Close()
	}
}
