package main

import (
	"strconv"
	"time"

	"github.com/shmbuf/shmbuf"
)

// staleAge is how long a segment nobody uses must have gone unwritten
// before ls and stat call it stale, and the default of rm --stale's
// --older-than.
const staleAge = time.Hour

// staleHelp says what stale means, for ls, rm and stat's help.
const staleHelp = `A segment is stale when shmbuf made it (raw, snapshot or ring), nobody
uses it and nobody has written it for an hour (rm --stale --older-than
sets the age). Nobody uses it when no process it records (creator, last
writer, ring writers and readers) is alive, no process in any pid
namespace has it open through shmbuf (each holds a lock on its file), no
live process here maps it or holds it open, and no process has a System V
segment attached. So a segment whose writers exited keeps its value or
records until it has gone unwritten for that long. Segments of other
programs (kind unknown, which includes every System V raw segment: those
carry no mark) are never stale; remove them by name.

The last write (ls's WRITTEN, stat's written) is, for a raw segment, the
file's modification time (which write(2) and shmbuf's writes update, but
a program storing through its own mapping only at its first store to
each page); for a snapshot or ring, the time its writers record in it (a
snapshot at every write; a ring at a writer's first record, every 256
records after, and when the writer exits) or the file's modification
time if newer (touch keeps a segment, or ages one never written); on
System V, which records no write time, the creation time before the
first write.`

// segmentJSON is the parts of one segment object of ls --json and stat
// --json, in order: info, u's own members ("written", "in_use") where the
// segment could be inspected (u not nil), then what the command adds,
// beginning with "stale".
func segmentJSON(info shmbuf.SegmentInfo, u *shmbuf.Usage, extra any) []any {
	if u == nil {
		return []any{info, extra}
	}
	return []any{info, u, extra}
}

// isStale reports whether ls and stat call the segment stale: what rm
// --stale removes with its default --older-than. u is nil for an entry
// that is not a segment or could not be inspected.
func isStale(u *shmbuf.Usage) bool { return u != nil && u.Stale(staleAge) }

// lastWrite is u's LastWrite, zero when u is nil.
func lastWrite(u *shmbuf.Usage) time.Time {
	if u == nil {
		return time.Time{}
	}
	return u.LastWrite
}

// ago renders how long ago t was, shortly, as kubectl shows ages: 45s,
// 3m12s, 17m, 2h5m, 30h, 3d4h, 12d; "-" for the zero time. Times in the
// future show as 0s.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(time.Since(t), 0)
	s := int64(d / time.Second)
	m, h := s/60, s/3600
	days := h / 24
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch {
	case s < 120:
		return itoa(s) + "s"
	case m < 10:
		return itoa(m) + "m" + itoa(s%60) + "s"
	case m < 180:
		return itoa(m) + "m"
	case h < 8:
		return itoa(h) + "h" + itoa(m%60) + "m"
	case h < 48:
		return itoa(h) + "h"
	case days < 8:
		return itoa(days) + "d" + itoa(h%24) + "h"
	}
	return itoa(days) + "d"
}

// inUse renders ls's IN_USE column: "-" where u is nil (not inspected).
func inUse(u *shmbuf.Usage) string {
	switch {
	case u == nil:
		return "-"
	case u.InUse():
		return "yes"
	}
	return "no"
}
