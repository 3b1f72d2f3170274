package shmbuf_test

import (
	"os/exec"
	"sync"
	"testing"

	"github.com/shmbuf/shmbuf"
)

// TestRing_SlotFreeWhileForking: a process that forks children (os/exec)
// while its writers and readers come and go. Between fork and exec a
// child holds a copy of every descriptor, the one a closed Writer or
// Reader held its slot lock on included; the slot must be free at once
// anyway, so that with one slot of each a new Writer and Reader always
// attach.
func TestRing_SlotFreeWhileForking(t *testing.T) {
	t.Parallel()
	r, _ := newRing(t, shmbuf.RingOptions{Size: 4096, Writers: 1, Readers: 1})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				exec.Command("/bin/true").Run()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for round := range 5000 {
		w, err := r.NewWriter(shmbuf.WriterOptions{})
		if err != nil {
			t.Fatalf("round %d: NewWriter: %v", round, err)
		}
		rd, err := r.NewReader(shmbuf.ReaderOptions{})
		if err != nil {
			t.Fatalf("round %d: NewReader: %v", round, err)
		}
		if err := rd.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
