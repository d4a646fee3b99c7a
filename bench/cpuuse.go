package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUUse is the CPU time this process (in bench e2e, the switch and the
// simulated banks together) used over a span of wall time, and how much
// of the whole machine's CPU time was idle meanwhile. It tells a slow
// machine from slow code: on the development VM, a run whose p99 missed
// had the process use 175 of the 200 CPU ticks a second for the same
// payments that another run did in 161 (bench/RESULTS.md, 2026-11-29
// afternoon); the machine reports no steal time, so a slower host shows
// only as the same work costing more CPU.
type CPUUse struct {
	Wall, User, System time.Duration
	// MachineIdle is the idle share of all the machine's CPU time (0 to
	// 1), or -1 where /proc/stat cannot be read.
	MachineIdle float64
}

// CPUs returns the process's CPU time over its wall time: 1.5 is one and
// a half CPUs kept busy.
func (u CPUUse) CPUs() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return float64(u.User+u.System) / float64(u.Wall)
}

// Describe says what u measured for a person, of a machine with cpus
// CPUs: "kept 1.62 of 2 CPUs busy (user 1.11, system 0.51); the machine's
// CPUs were idle 16% of the time". It is empty where the platform gave no
// process CPU time, and leaves out the idle share where it gave none.
func (u CPUUse) Describe(cpus int) string {
	if u.Wall <= 0 || u.User+u.System <= 0 {
		return ""
	}
	d := fmt.Sprintf("kept %.2f of %d CPUs busy (user %.2f, system %.2f)",
		u.CPUs(), cpus, u.User.Seconds()/u.Wall.Seconds(), u.System.Seconds()/u.Wall.Seconds())
	if u.MachineIdle >= 0 {
		d += fmt.Sprintf("; the machine's CPUs were idle %.0f%% of the time", 100*u.MachineIdle)
	}
	return d
}

// cpuSample is one reading of the counters CPUUse is made from.
type cpuSample struct {
	at           time.Time
	user, system time.Duration
	// idle and total are the machine's CPU ticks since boot (idle and
	// iowait count as idle); ok is false when /proc/stat was unreadable.
	idle, total uint64
	ok          bool
}

func readCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	s.user, s.system = processCPU()
	s.idle, s.total, s.ok = machineTicks()
	return s
}

// cpuBetween is the use from a to b.
func cpuBetween(a, b cpuSample) CPUUse {
	u := CPUUse{Wall: b.at.Sub(a.at), User: b.user - a.user, System: b.system - a.system, MachineIdle: -1}
	if a.ok && b.ok && b.total > a.total {
		u.MachineIdle = float64(b.idle-a.idle) / float64(b.total-a.total)
	}
	return u
}

// machineTicks reads the first line of /proc/stat (Linux): the ticks of
// all CPUs since boot by state. Idle and iowait are idle; guest time is
// already inside user and nice, so it is not added again.
func machineTicks() (idle, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return idle, total, true
}
