package bench

import (
	"slices"
	"strconv"
	"testing"
)

func TestParseCPUs(t *testing.T) {
	avail := availableCPUs()
	if len(avail) == 0 {
		t.Fatal("no CPU available")
	}
	last := avail[len(avail)-1]
	got, err := parseCPUs(strconv.Itoa(last) + "," + strconv.Itoa(avail[0]))
	if err != nil || !slices.Equal(got, []int{last, avail[0]}) {
		t.Errorf("parseCPUs kept %v (%v), want the order given", got, err)
	}
	if len(avail) > 1 && avail[1] == avail[0]+1 {
		got, err := parseCPUs(strconv.Itoa(avail[0]) + "-" + strconv.Itoa(avail[1]))
		if err != nil || !slices.Equal(got, avail[:2]) {
			t.Errorf("range: %v (%v)", got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "2-1", "0,,1", "100000"} {
		if _, err := parseCPUs(bad); err == nil {
			t.Errorf("parseCPUs(%q) accepted", bad)
		}
	}
}

// TestHarness_Pinned runs a transfer with both peers pinned to one core
// and checks that every thread of each peer was confined to it.
func TestHarness_Pinned(t *testing.T) {
	cpu := availableCPUs()[0]
	h := newTestHarness(t)
	h.set.CPUs = []int{cpu}
	r, err := h.run(t.Context(), mustLookup("pipe"), 64, modeThroughput)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []peerResult{r.writer, r.reader} {
		if !slices.Equal(p.Pinned, []int{cpu}) {
			t.Errorf("a peer's threads run on %v, want [%d]", p.Pinned, cpu)
		}
	}
}
