package main

import (
	"os"
	"runtime"
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
