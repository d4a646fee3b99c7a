package main

import (
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
