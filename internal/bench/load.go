package bench

import (
	"os"
	"strconv"
	"strings"
)

// load1 is the 1-minute load average (/proc/loadavg), or -1 when it
// cannot be read.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return -1
	}
	return v
}
