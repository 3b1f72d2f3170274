package bench

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSetup_EveryMechanism measures a few setups of each mechanism and
// checks the figures and that nothing is left behind.
func TestSetup_EveryMechanism(t *testing.T) {
	o := Options{Setup: true, Setups: 5, Sizes: []int{64}, Warmup: 1, Reps: 1, Phase: time.Millisecond, MinCount: 1, Quiet: true}
	rep, err := Run(t.Context(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Setup) != len(mechanisms) {
		t.Fatalf("%d setup results, want %d", len(rep.Setup), len(mechanisms))
	}
	for i, r := range rep.Setup {
		if r.Mechanism != mechanisms[i].name || r.Failed || r.Setups != 5 || r.P50 <= 0 || r.P99 < r.P50 || r.Steps == "" {
			t.Errorf("result %+v", r)
		}
		if strings.Contains(r.Steps, "$TMPDIR") {
			t.Errorf("steps name no directory: %q", r.Steps)
		}
	}
	prefix := "shmbuf-bench-" + strconv.Itoa(os.Getpid()) + "-"
	if m, _ := filepath.Glob("/dev/shm/" + prefix + "*"); len(m) > 0 {
		t.Errorf("left in /dev/shm: %v", m)
	}
}

// TestSetup_FailureCleansUp makes a mechanism fail half-way through a
// setup and checks that what it had made is removed.
func TestSetup_FailureCleansUp(t *testing.T) {
	h := newTestHarness(t)
	var made string
	broken := mechanism{name: "broken", steps: "create a file, fail", once: func(s *setupRun) error {
		made = filepath.Join("/dev/shm", s.name)
		if err := os.WriteFile(made, []byte("x"), 0o600); err != nil {
			return err
		}
		s.made(func() error { return os.Remove(made) })
		return errors.New("half-way")
	}}
	_, err := h.measureSetup(t.Context(), broken, 64, 3, 0)
	if err == nil || !strings.Contains(err.Error(), "half-way") {
		t.Fatalf("error %v, want the mechanism's", err)
	}
	if made == "" {
		t.Fatal("the mechanism never ran")
	}
	if _, err := os.Lstat(made); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind (%v)", made, err)
	}
}
