package bench

import "time"

// phaser cuts the records a reader verifies into the timed phases
// (repetitions) of a measurement. The clock starts at the first record,
// which is not counted; a phase ends, at a check made every `every`
// records, once it has lasted Phase and counted MinCount records (or
// lasted 20×Phase); the first Warmup phases are discarded. With Count set
// there is one phase, which the end marker closes (end).
type phaser struct {
	s      peerSpec
	mask   uint64 // every-1: the clock is read when n&mask == 0
	phases int
	phase  int
	n      uint64
	lost0  uint64
	cpu0   int64
	start  time.Time
	res    peerResult
	// done is set when the last phase has ended: res is complete.
	done bool
}

// every is a power of two (everyFor), so that the check made for each
// record is a mask, not a division: at 64 B records a division per
// record was a tenth of the reader's time.
func newPhaser(s peerSpec, every uint64) *phaser {
	if every == 0 || every&(every-1) != 0 {
		panic("bench: phaser period is not a power of two")
	}
	ph := &phaser{s: s, mask: every - 1, phases: s.Warmup + s.Reps}
	if s.Count > 0 {
		ph.phases = 1
	}
	return ph
}

// measuring is true once the clock runs and the warm-up is over.
func (ph *phaser) measuring() bool { return !ph.start.IsZero() && ph.phase >= ph.s.Warmup }

// count counts one verified record; lost is the reader's count of lost
// values so far. It returns true when the record ended the last phase.
func (ph *phaser) count(lost uint64) bool {
	if ph.done {
		return false
	}
	if ph.start.IsZero() {
		ph.start, ph.cpu0 = time.Now(), cpuNow()
		return false // the clock starts at this record, it is not counted
	}
	ph.n++
	if ph.n&ph.mask != 0 || ph.s.Count > 0 {
		return false
	}
	now := time.Now()
	d := now.Sub(ph.start)
	length := ph.s.Phase
	if ph.phase < ph.s.Warmup && ph.s.WarmPhase > 0 {
		length = ph.s.WarmPhase
	}
	if (d < length || ph.n < uint64(ph.s.MinCount)) && d < 20*length {
		return false
	}
	if ph.phase >= ph.s.Warmup {
		ph.res.Phases = append(ph.res.Phases, phaseResult{Records: ph.n, Lost: lost - ph.lost0, Nanos: int64(d)})
		ph.res.CPURecords += ph.n
	}
	ph.phase++
	if ph.phase == ph.s.Warmup {
		ph.cpu0 = cpuNow()
	}
	if ph.phase == ph.phases {
		ph.res.CPUNs = cpuNow() - ph.cpu0
		ph.done = true
		return true
	}
	ph.start, ph.n, ph.lost0 = now, 0, lost
	return false
}

// end closes the one phase of a Count run when the end marker arrives.
func (ph *phaser) end(lost uint64) {
	ph.res.Phases = append(ph.res.Phases, phaseResult{Records: ph.n, Lost: lost - ph.lost0, Nanos: int64(time.Since(ph.start))})
	ph.res.CPUNs, ph.res.CPURecords = cpuNow()-ph.cpu0, ph.n
	ph.done = true
}

// everyFor is how often a reader of records of size bytes looks at the
// clock: about every 16 KiB, at most every 256 records; a power of two.
func everyFor(size int) uint64 {
	every := uint64(1)
	for every*uint64(size) < 16<<10 && every < 256 {
		every *= 2
	}
	return every
}
