package futex_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmbuf/shmbuf/internal/futex"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWait_ValueChanged(t *testing.T) {
	var w atomic.Uint32
	w.Store(1)
	start := time.Now()
	if err := futex.Wait(&w, 0, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Generous for a loaded machine; a Wait that slept would take 10 s.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Wait with a stale value slept %v, want EAGAIN at once", d)
	}
}

func TestWait_Timeout(t *testing.T) {
	var w atomic.Uint32
	start := time.Now()
	if err := futex.Wait(&w, 0, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Fatalf("Wait returned after %v, before its timeout", d)
	}
}

func TestWake(t *testing.T) {
	var w atomic.Uint32
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		for w.Load() == 0 {
			futex.Wait(&w, 0, 5*time.Second)
		}
		done <- time.Since(start)
	}()
	time.Sleep(20 * time.Millisecond)
	w.Store(1)
	if _, err := futex.WakeAll(&w); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-done:
		if d > 4*time.Second {
			t.Fatalf("waiter slept %v: wake missed", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter never woke")
	}
}
