package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestSetGC: the binary collects at gcPercent unless GOGC is set, and an
// operator's GOGC wins.
func TestSetGC(t *testing.T) {
	restore := debug.SetGCPercent(100)
	defer debug.SetGCPercent(restore)

	t.Setenv("GOGC", "")
	setGC()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("GOGC unset: collecting at %d, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50) // what the runtime read from GOGC=50 at start
	setGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("GOGC=50: collecting at %d, want the operator's 50", got)
	}
}

// TestSetProcs: one node runs procsPerCPU Ps per CPU, a process hosting a
// cluster clusterProcsPerCPU, and an operator's GOMAXPROCS wins over both.
func TestSetProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "")
	setProcs()
	if got, want := runtime.GOMAXPROCS(0), procsPerCPU*cpuProcs; got != want {
		t.Fatalf("one node: %d Ps, want %d", got, want)
	}
	hostCluster()
	if got, want := runtime.GOMAXPROCS(0), clusterProcsPerCPU*cpuProcs; got != want {
		t.Fatalf("hosting a cluster: %d Ps, want %d", got, want)
	}

	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3) // what the runtime read from GOMAXPROCS=3 at start
	setProcs()
	hostCluster()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("GOMAXPROCS=3: %d Ps, want the operator's 3", got)
	}
}
