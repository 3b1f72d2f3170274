package bench

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBufferedPipe_Frames checks that the buffered pipe's reader refuses
// a frame of the wrong length and a record cut short, and reads records
// that a batch of writes delivered.
func TestBufferedPipe_Frames(t *testing.T) {
	const size = 64
	tr := mustLookup("pipe-buffered")
	frame := func(n int) []byte {
		b := make([]byte, 4+n)
		binary.LittleEndian.PutUint32(b, uint32(n))
		return b
	}
	cases := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"short frame", frame(size - 1), "frame of 63 bytes, want 64"},
		{"cut record", frame(size)[:4+size/2], io.ErrUnexpectedEOF.Error()},
		{"cut frame", []byte{64, 0}, io.ErrUnexpectedEOF.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			rcv, err := tr.Receiver(ChannelSpec{FD: p[0]}, size, time.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			good := frame(size)
			newPattern(size).fill(good[4:], 1)
			if err := writeFull(p[1], append(good, c.bytes...)); err != nil {
				t.Fatal(err)
			}
			unix.Close(p[1])
			if _, err := rcv.Recv(); err != nil {
				t.Fatalf("the good record: %v", err)
			}
			_, err = rcv.Recv()
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, io.EOF) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
