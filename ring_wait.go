package shmbuf

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/shmbuf/shmbuf/internal/futex"
	"github.com/shmbuf/shmbuf/internal/layout"
)

const (
	// spinFor is how long WaitAdaptive polls, with a spin-wait hint
	// between polls, before it yields: long enough to catch a reply that
	// comes quickly (a pipe's wake-up takes several microseconds), short
	// enough not to starve a peer that shares the core on a small machine.
	spinFor = 20 * time.Microsecond
	// yieldFor is how long WaitAdaptive keeps polling, giving the CPU to
	// any other runnable thread between polls, before it sleeps on the
	// futex. A yield costs about a system call when nobody else wants the
	// CPU, and lets the peer run at once when it shares ours.
	yieldFor = 100 * time.Microsecond
	// sliceMax bounds one futex sleep, so that cancellation, deadlines
	// and dead peers are noticed while nothing is woken.
	sliceMax = 100 * time.Millisecond
	// sleepPoll is the nap of a waiter that has no futex word to sleep on
	// (a walker waiting for another writer's copy to finish).
	sleepPoll = 50 * time.Microsecond
	// blockSpinSteps is how many spin steps (about 40 ns each) WaitBlock
	// takes before it sleeps: a few microseconds, less than one sleep
	// and wake-up costs. A peer that answers at once (a ping-pong, a
	// reader keeping up with its writer) is then caught awake, and
	// neither side pays the kernel's wake-up, which is what sets a
	// pipe's latency; a wait that lasts longer costs this much CPU once.
	blockSpinSteps = 128
	// clockEvery is how many spin steps pass between reads of the clock
	// (a spin step is about 40 ns, a yield about 1 µs).
	spinClockEvery  = 64
	yieldClockEvery = 4
)

// checkEvery is how often a waiter checks its peers' liveness and the
// ring's sanity; a dead peer is noticed well within a second, corruption
// within two ticks. A variable only so that whitebox tests can shorten it.
var checkEvery = 200 * time.Millisecond

// waitState is one wait in progress: how long it has spun and when the
// next liveness check is due.
type waitState struct {
	n         uint64
	yielding  bool
	since     time.Time
	nextCheck time.Time
	suspect   bool // the last tick's sanity check failed (see confirm)
}

func (s *waitState) reset() { s.n, s.yielding, s.since = 0, false, time.Time{} }

// pause waits once, by the strategy: a spin step (a spin-wait hint, or a
// yield of the CPU once WaitAdaptive has spun for spinFor), or a futex
// sleep on word (nil: a short nap) if blocked still reports true after
// the caller is counted in waiters. It reports whether a liveness check
// is due.
func (s *waitState) pause(ctx context.Context, strat WaitStrategy, word, waiters *atomic.Uint32, blocked func() bool) (bool, error) {
	s.n++
	if strat == WaitBlock && s.n <= blockSpinSteps && word != nil {
		futex.Pause()
		return false, nil
	}
	if strat != WaitBlock {
		every := uint64(spinClockEvery)
		if s.yielding {
			futex.SchedYield()
			every = yieldClockEvery
		} else {
			futex.Pause()
		}
		if s.n%every != 0 {
			return false, nil
		}
		now := time.Now()
		if s.since.IsZero() {
			s.since = now
		}
		if err := ctxErr(ctx); err != nil {
			return false, err
		}
		if strat == WaitSpin {
			return s.due(now), nil
		}
		if el := now.Sub(s.since); el < yieldFor {
			if el >= spinFor && !s.yielding {
				s.yielding, s.n = true, 0
			}
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
			timeout := min(sliceMax, checkEvery) // never sleep through a check
			if dl, ok := ctx.Deadline(); ok {
				if d := time.Until(dl); d < timeout {
					timeout = max(d, time.Microsecond)
				}
			}
			// A context that ends while we sleep wakes us at once
			// rather than at the end of the slice (a signal to the
			// CLI must stop it within 100 ms). The bump makes a wake
			// that comes before the sleep starts end it too; other
			// sleepers on the word merely look again. Only a call
			// about to sleep pays for the registration.
			//
			// The waker runs on a goroutine of its own and touches the
			// mapping: when stop finds it started, wait until it is done,
			// or a caller that returns and closes the ring at once (the
			// CLI on a signal) unmaps the word under it. Its own fault
			// guard covers a mapping another process truncated.
			var stop func() bool
			var woken chan struct{}
			if ctx.Done() != nil {
				woken = make(chan struct{})
				stop = context.AfterFunc(ctx, func() {
					defer close(woken)
					defer faultGuard(nil, "", "", nil, nil, debug.SetPanicOnFault(true))
					word.Add(1)
					futex.WakeAll(word)
				})
			}
			err = futex.Wait(word, v, timeout)
			if stop != nil && !stop() {
				<-woken
			}
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
