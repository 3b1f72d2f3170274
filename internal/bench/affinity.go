package bench

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shmbuf/shmbuf/internal/placement"
)

// pinProcess restricts every thread of this process to cpus
// (sched_setaffinity works per thread). A thread the Go runtime starts
// later inherits the mask of the thread that starts it, which is pinned
// by then; the loop catches threads started while it runs.
func pinProcess(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	done := map[int]bool{}
	for {
		tids, err := threadIDs()
		if err != nil {
			return err
		}
		fresh := false
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return err
			}
			done[tid], fresh = true, true
		}
		if !fresh {
			return nil
		}
	}
}

// threadsAffinity returns the cores any thread of this process may run on.
func threadsAffinity() []int {
	tids, _ := threadIDs()
	var cpus []int
	for _, tid := range tids {
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) != nil {
			continue
		}
		for c := range len(set) * 64 {
			if set.IsSet(c) && !slices.Contains(cpus, c) {
				cpus = append(cpus, c)
			}
		}
	}
	slices.Sort(cpus)
	return cpus
}

func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// availableCPUs returns the cores this process may run on.
func availableCPUs() []int { return placement.Available() }

// parseCPUs parses a list of cores as taskset -c takes it: 0,1 or 0-3,6.
// Order is kept (the writer gets the first), and each core must be one
// this process may run on.
func parseCPUs(list string) ([]int, error) {
	avail := availableCPUs()
	var cpus []int
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("bad CPU list %q: use core numbers like 0,1 or 0-3", list)
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(avail, c) {
				return nil, fmt.Errorf("CPU %d is not available to this process (available: %s)", c, formatCPUs(avail))
			}
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// formatCPUs renders a list of cores: 0,1,2.
func formatCPUs(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}
