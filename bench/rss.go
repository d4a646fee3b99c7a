package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// residentMB reads the process's current and peak resident set size from
// /proc (Linux). Elsewhere it reports zeros.
func residentMB() (current, peak float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			current = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return current, peak
}
