package bench

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as its own benchmark peer: the
// harness re-executes os.Executable(), which here is this binary.
func TestMain(m *testing.M) {
	RunPeerIfRequested()
	runCommandIfRequested()
	// Under -race every peer this binary starts would sleep a second at
	// exit (the race runtime's atexit_sleep_ms) for late race reports;
	// races are still reported. A user's own GORACE stays.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}
