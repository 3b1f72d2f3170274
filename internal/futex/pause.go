package futex

import (
	_ "unsafe" // for go:linkname
)

// procyield executes the CPU's spin-wait hint (PAUSE on amd64, YIELD on
// arm64) cycles times. The runtime keeps this symbol stable for linkname
// (go.dev/issue/67401).
//
//go:linkname procyield runtime.procyield
func procyield(cycles uint32)

// Pause is one step of a busy wait: a spin-wait hint of a few tens of
// nanoseconds. A poller that pauses between loads of a cache line the
// other side is writing lets that side finish the line instead of losing
// it to every poll, and gives the sibling hyperthread the core.
func Pause() { procyield(1) }

// SchedYield gives up the CPU to another runnable thread, if any; it is
// the middle step between spinning and sleeping on a machine with fewer
// cores than busy threads.
func SchedYield() {
	syscallYield()
}
