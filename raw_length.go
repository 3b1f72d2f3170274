package shmbuf

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"golang.org/x/sys/unix"
)

// A fixed-size region holds its value followed by zero padding, so a
// value that ends in NUL bytes cannot be told from its padding by looking
// at the bytes. Regions of other programs (Python's shared_memory,
// ipcmk's) are read with trailing NUL bytes trimmed, the convention those
// programs follow. The fixed regions shmbuf creates (CreateRaw) carry a
// length mark instead: an extended attribute, written by every Store
// under the exclusive lock, holding the value's length and its CRC-32C.
// Load returns exactly that many bytes when the region still holds what
// the mark describes (the value, then only zero bytes); when it does not,
// another program wrote the region through its own mapping since, and
// Load trims as for a foreign region. So a mark can never cut short a
// value someone else wrote.
//
// System V regions have no file and so no attributes: their trailing NUL
// bytes are always trimmed.

// rawLengthXattr is the length mark of a fixed region shmbuf created:
// "LENGTH CRC", the value's length in decimal and its CRC-32C
// (Castagnoli) in eight hex digits.
const rawLengthXattr = "user.shmbuf.length"

// castagnoli is made at first use, not at start: building it costs every
// process that links shmbuf a fifth of a millisecond, and most never need
// it.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// lengthMark is the mark of value p.
func lengthMark(p []byte) []byte {
	return fmt.Appendf(nil, "%d %08x", len(p), crc32.Checksum(p, castagnoli()))
}

// readLengthMark reads the length mark of the open file fd; ok is false
// when it has none or it does not parse.
func readLengthMark(fd int) (n int64, sum uint32, ok bool) {
	var buf [40]byte
	m, err := unix.Fgetxattr(fd, rawLengthXattr, buf[:])
	if err != nil || m <= 0 || m > len(buf) {
		return 0, 0, false
	}
	var got int
	if got, err = fmt.Sscanf(string(buf[:m]), "%d %08x", &n, &sum); err != nil || got != 2 || n < 0 {
		return 0, 0, false
	}
	return n, sum, true
}

// markedValue returns the value a length mark (n, sum) describes in the
// region content b, and whether the content matches the mark: the value
// has that CRC and is followed only by zero bytes.
func markedValue(b []byte, n int64, sum uint32) ([]byte, bool) {
	if n > int64(len(b)) || crc32.Checksum(b[:n], castagnoli()) != sum {
		return nil, false
	}
	if len(bytes.TrimRight(b[n:], "\x00")) != 0 {
		return nil, false
	}
	return b[:n], true
}

// setLengthMark replaces the length mark of fd with p's, after the
// region was rewritten. clearLengthMark removes the old one before: if
// setting the new one fails, Load trims (the old mark could describe a
// prefix of the new value).
func setLengthMark(fd int, p []byte) error {
	return unix.Fsetxattr(fd, rawLengthXattr, lengthMark(p), 0)
}

func clearLengthMark(fd int) error {
	if err := unix.Fremovexattr(fd, rawLengthXattr); err != nil && !errors.Is(err, unix.ENODATA) {
		return err
	}
	return nil
}

// matchesMark reports whether the region in fd, size bytes long, holds
// what its length mark describes, reading it in pieces rather than
// whole.
func matchesMark(fd int, size int64) (bool, error) {
	n, sum, ok := readLengthMark(fd)
	if !ok || n > size {
		return false, nil
	}
	var buf [64 << 10]byte
	crc := uint32(0)
	for off := int64(0); off < size; {
		chunk := buf[:min(size-off, int64(len(buf)))]
		got, err := preadFull(fd, chunk, off)
		if err != nil {
			return false, err
		}
		if got < len(chunk) {
			return false, nil // shorter than it was: not what the mark says
		}
		if v := min(max(n-off, 0), int64(got)); v > 0 {
			crc = crc32.Update(crc, castagnoli(), chunk[:v])
		}
		if pad := chunk[min(max(n-off, 0), int64(got)):]; len(bytes.TrimRight(pad, "\x00")) != 0 {
			return false, nil
		}
		off += int64(got)
	}
	return crc == sum, nil
}
