package bench

import (
	"runtime"
	"testing"
	"time"
)

func TestCPUBetween(t *testing.T) {
	at := time.Unix(1_000, 0)
	for _, tc := range []struct {
		name     string
		a, b     cpuSample
		cpus     float64
		idle     float64
		userFrac float64
	}{
		{"busy", cpuSample{at: at, user: time.Second, system: time.Second, idle: 100, total: 1000, ok: true},
			cpuSample{at: at.Add(2 * time.Second), user: 3 * time.Second, system: 2 * time.Second, idle: 140, total: 1400, ok: true},
			1.5, 0.1, 1},
		{"no /proc/stat", cpuSample{at: at}, cpuSample{at: at.Add(time.Second), user: time.Second / 2}, 0.5, -1, 0.5},
		{"ticks did not move", cpuSample{at: at, idle: 5, total: 9, ok: true}, cpuSample{at: at.Add(time.Second), idle: 5, total: 9, ok: true}, 0, -1, 0},
		{"no wall time", cpuSample{at: at}, cpuSample{at: at, user: time.Second}, 0, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := cpuBetween(tc.a, tc.b)
			if u.CPUs() != tc.cpus || u.MachineIdle != tc.idle {
				t.Fatalf("%+v: %.3f CPUs, idle %.3f; want %.3f, %.3f", u, u.CPUs(), u.MachineIdle, tc.cpus, tc.idle)
			}
			if u.Wall > 0 && u.User.Seconds()/u.Wall.Seconds() != tc.userFrac {
				t.Fatalf("user share %.3f, want %.3f", u.User.Seconds()/u.Wall.Seconds(), tc.userFrac)
			}
		})
	}
}

func TestCPUUseDescribe(t *testing.T) {
	for _, tc := range []struct {
		u    CPUUse
		want string
	}{
		{CPUUse{Wall: 2 * time.Second, User: 2 * time.Second, System: time.Second, MachineIdle: 0.125},
			"kept 1.50 of 2 CPUs busy (user 1.00, system 0.50); the machine's CPUs were idle 12% of the time"},
		{CPUUse{Wall: time.Second, User: time.Second / 2, MachineIdle: -1}, "kept 0.50 of 2 CPUs busy (user 0.50, system 0.00)"},
		{CPUUse{Wall: time.Second, MachineIdle: 0.5}, ""},
		{CPUUse{User: time.Second, MachineIdle: 0.5}, ""},
	} {
		if got := tc.u.Describe(2); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.u, got, tc.want)
		}
	}
}

// TestReadCPU: the counters move with work done, where the platform has
// them.
func TestReadCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process and machine CPU counters are read on Linux")
	}
	a := readCPU()
	sum := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		for i := range 10_000 {
			sum += i
		}
	}
	u := cpuBetween(a, readCPU())
	if !a.ok || u.User+u.System <= 0 || u.MachineIdle < 0 || u.MachineIdle > 1 || sum == 0 {
		t.Fatalf("after 50 ms of work: %+v (read /proc/stat: %v)", u, a.ok)
	}
}
