package bench

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// monoNow is CLOCK_MONOTONIC in nanoseconds: one clock for every process
// of the machine, so a reader can subtract a send time another process
// stamped. It is read through Go's own monotonic clock (vDSO, no system
// call) plus this process's offset to CLOCK_MONOTONIC.
func monoNow() int64 {
	b := monoBase()
	return b.mono + int64(time.Since(b.t))
}

type monoSample struct {
	t    time.Time
	mono int64
}

// monoBase samples the offset once: clock_gettime bracketed by two reads
// of Go's clock, the narrowest bracket of a few, its middle taken.
var monoBase = sync.OnceValue(func() monoSample {
	var best monoSample
	width := time.Duration(1<<63 - 1)
	for range 8 {
		var ts unix.Timespec
		t1 := time.Now()
		if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
			continue
		}
		t2 := time.Now()
		if w := t2.Sub(t1); w < width {
			width = w
			best = monoSample{t: t1.Add(w / 2), mono: ts.Nano()}
		}
	}
	return best
})
