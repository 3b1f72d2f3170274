package shmbuf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestRing_StaleStampBytesNeverPassForAHeader: where a record's padding
// leaves the last bytes of a header from two laps before, and its payload
// ends with the two bytes a later record's stamp starts with, a reader
// waiting at that later record's position must not take those eight bytes
// for its stamp. Stamps of positions a few laps apart must therefore
// differ in every byte, not only in the few that hold the lap count (the
// soak test met this by chance: two crc bytes and six stale ones).
func TestRing_StaleStampBytesNeverPassForAHeader(t *testing.T) {
	for _, pol := range []Policy{PolicyBlock, PolicyOverwrite} {
		t.Run(pol.String(), func(t *testing.T) {
			name := fmt.Sprintf("shmbuf-test-%d-stalestamp-%v", os.Getpid(), pol)
			r, err := CreateRing(name, RingOptions{Size: 256, MaxRecord: 64, Policy: pol})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(); Remove(name) })
			rd, err := r.NewReader(ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			w, err := r.NewWriter(WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			write := func(rec []byte) {
				t.Helper()
				if _, err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				for {
					if _, err := rd.TryNext(); err != nil {
						if !errors.Is(err, ErrEmpty) {
							t.Fatal(err)
						}
						return
					}
				}
			}
			const p = 512 + 64 // the position the reader ends up waiting at
			// Lap 0: a header at offset 64 (the record at 64).
			for range 4 {
				write(bytes.Repeat([]byte{'a'}, 48))
			}
			// Lap 1: a record at 256 whose 50-byte payload ends at offset
			// 66 with the first two bytes of the stamp of p; its padding
			// keeps bytes 2..7 of the stamp of 64. Then fill the lap.
			rec := bytes.Repeat([]byte{'b'}, 50)
			s := r.l.Stamp(p)
			rec[48], rec[49] = byte(s), byte(s>>8)
			write(rec)
			write(bytes.Repeat([]byte{'c'}, 48))
			write(bytes.Repeat([]byte{'d'}, 48))
			write(bytes.Repeat([]byte{'e'}, 40))
			if tail := r.l.Ctl.Tail.Load(); tail != 512 {
				t.Fatalf("tail %d after two laps, the test needs 512", tail)
			}
			// Lap 2: one record, [512, 576); the reader then waits at p.
			write(bytes.Repeat([]byte{'f'}, 48))
			if rd.pos != p {
				t.Fatalf("reader at %d, the test needs %d", rd.pos, p)
			}
			if rec, err := rd.TryNext(); !errors.Is(err, ErrEmpty) {
				t.Fatalf("at %d, where nothing was written: %q, %v; want ErrEmpty", p, rec, err)
			}
		})
	}
}
