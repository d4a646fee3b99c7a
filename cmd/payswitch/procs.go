package main

import (
	"os"
	"runtime"
	"runtime/debug"
)

// procsPerCPU is how many Go scheduler Ps the binary runs per CPU, unless
// the GOMAXPROCS environment variable says otherwise.
//
// Why more Ps than CPUs: a payment's critical path is a handful of
// goroutines (the Raft leader writing and syncing the log, the state
// machine, the proposer, the front end's event loops) among thousands of
// payment goroutines. With one P per CPU, the leader coming back from its
// fsync, or an event loop woken by the network, queues behind whatever
// the Ps run, for up to the scheduler's 10 ms time slice: the bench e2e
// runs showed Raft log appends of 10 to 20 ms that were no slower on disk.
// With four Ps per CPU the kernel schedules the threads, and it runs a
// thread that wakes from I/O promptly. On the 2-CPU development VM at
// 25,000 payments/s this halved the p50 and cut the p99 from 70-120 ms to
// about 35 ms, for about 14% more CPU (threads spinning for work). See
// bench/RESULTS.md.
const procsPerCPU = 4

// setProcs applies procsPerCPU unless GOMAXPROCS is set.
func setProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(procsPerCPU * runtime.GOMAXPROCS(0))
}

// gcPercent is the binary's garbage collection target (GOGC), unless the
// GOGC environment variable says otherwise.
//
// Why 400 rather than Go's 100: every collection starts and ends by
// stopping the world, and stopping it waits for every running goroutine to
// reach a safe point. On the 2-CPU development VM at 30,000 payments/s a
// node allocates about 80 MB a second over a live heap of 33-60 MB, so with
// GOGC=100 it collected 160-170 times a minute, and a few of those stops a
// minute took 10-78 ms, holding every payment in flight. With GOGC=400 it
// collects 35-38 times a minute, and in six interleaved 60 s pairs of
// payswitch bench e2e the stops over 10 ms fell from 11 to 3 (the longest
// from 78 to 19 ms) and p99 was lower in four pairs. The cost is a heap
// that grows to about five times the live data, some 250 MB. See
// bench/RESULTS.md.
const gcPercent = 400

// setGC applies gcPercent unless GOGC is set.
func setGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
}
