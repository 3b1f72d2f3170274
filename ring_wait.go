package shmbuf

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf/internal/futex"
	"github.com/shmbuf/shmbuf/internal/layout"
)

const (
	// spinFor is how long WaitAdaptive polls before it sleeps: longer
	// than a pipe's wake-up, so a reply that comes quickly is caught
	// without a system call.
	spinFor = 50 * time.Microsecond
	// sliceMax bounds one futex sleep, so that cancellation, deadlines
	// and dead peers are noticed while nothing is woken.
	sliceMax = 100 * time.Millisecond
	// checkEvery is how often a waiter checks its peers' liveness; a dead
	// peer is noticed well within a second.
	checkEvery = 200 * time.Millisecond
	// sleepPoll is the nap of a waiter that has no futex word to sleep on
	// (a walker waiting for another writer's copy to finish).
	sleepPoll = 50 * time.Microsecond
)

// waitState is one wait in progress: how long it has spun and when the
// next liveness check is due.
type waitState struct {
	n         uint64
	since     time.Time
	nextCheck time.Time
}

func (s *waitState) reset() { s.n = 0 }

// pause waits once, by the strategy: a spin step, or a futex sleep on word
// (nil: a short nap) if blocked still reports true after the caller is
// counted in waiters. It reports whether a liveness check is due.
func (s *waitState) pause(ctx context.Context, strat WaitStrategy, word, waiters *atomic.Uint32, blocked func() bool) (bool, error) {
	s.n++
	var now time.Time
	if strat != WaitBlock {
		if s.n&63 != 0 {
			return false, nil
		}
		now = time.Now()
		if s.n == 64 {
			s.since = now
		}
		if err := ctxErr(ctx); err != nil {
			return false, err
		}
		if strat == WaitSpin || now.Sub(s.since) < spinFor {
			return s.due(now), nil
		}
	}
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	if word == nil {
		time.Sleep(sleepPoll)
	} else {
		// Count ourselves before the last check of the condition.
		// Partner: the waker's load of waiters after it changed the
		// condition (both sequentially consistent).
		waiters.Add(1)
		v := word.Load()
		var err error
		if blocked() {
			timeout := sliceMax
			if dl, ok := ctx.Deadline(); ok {
				if d := time.Until(dl); d < timeout {
					timeout = max(d, time.Microsecond)
				}
			}
			err = futex.Wait(word, v, timeout)
		}
		waiters.Add(^uint32(0))
		if err != nil {
			return false, err
		}
	}
	if err := ctxErr(ctx); err != nil {
		return false, err
	}
	return s.due(time.Now()), nil
}

func (s *waitState) due(now time.Time) bool {
	if s.nextCheck.IsZero() {
		s.nextCheck = now.Add(checkEvery)
		return false
	}
	if now.Before(s.nextCheck) {
		return false
	}
	s.nextCheck = now.Add(checkEvery)
	return true
}

func ctxErr(ctx context.Context) error {
	done := ctx.Done()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return ctx.Err()
	default:
		return nil
	}
}

// wakeReaders and wakeWriters bump a futex word and wake its sleepers.
// Callers check the waiters count first, so a busy stream makes no system
// call.
func wakeReaders(l *layout.Ring) {
	l.Ctl.DataWake.Add(1)
	futex.WakeAll(&l.Ctl.DataWake)
}

func wakeWriters(l *layout.Ring) {
	l.Ctl.SpaceWake.Add(1)
	futex.WakeAll(&l.Ctl.SpaceWake)
}
