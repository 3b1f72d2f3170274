package main

import (
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf"
)

// syncAtExit is the value of a bare --sync: flush once, when write exits.
const syncAtExit = "exit"

// syncer flushes a ring to its file (Ring.Sync) every interval while
// records arrive, from its own goroutine, and once more when stopped.
type syncer struct {
	ring *shmbuf.Ring
	quit chan struct{}
	done chan error // the first error of the periodic flushes
}

// startSyncer starts flushing r every interval (0: only at stop) when
// progress, the count of records written, has moved since the last
// flush.
func startSyncer(r *shmbuf.Ring, progress *atomic.Uint64, interval time.Duration) *syncer {
	s := &syncer{ring: r, quit: make(chan struct{}), done: make(chan error, 1)}
	if interval == 0 {
		s.done <- nil
		return s
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var flushed uint64
		for {
			select {
			case <-s.quit:
				s.done <- nil
				return
			case <-tick.C:
			}
			if p := progress.Load(); p != flushed {
				if err := r.Sync(); err != nil {
					s.done <- err
					return
				}
				flushed = p
			}
		}
	}()
	return s
}

// stop ends the periodic flushes and flushes once more.
func (s *syncer) stop() error {
	close(s.quit)
	if err := <-s.done; err != nil {
		return err
	}
	return s.ring.Sync()
}
