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
// With more Ps than CPUs the kernel schedules the threads, and it runs a
// thread that wakes from I/O promptly. On the 2-CPU development VM at
// 25,000 payments/s four Ps per CPU halved the p50 and cut the p99 from
// 70-120 ms to about 35 ms, for about 14% more CPU (threads spinning for
// work).
//
// Why two and not four: after GOGC went to 400, fourteen interleaved
// pairs of 60 s payswitch bench e2e runs at 30,000 payments/s gave p99
// within 50 ms in 12 of 14 runs with 4 Ps against 8 of 14 with 8 Ps, the
// worst p99 67 ms against 89 ms, and a lower p99.9 in 11 of the 14 pairs.
// Why fewer helps is not established. One P per CPU (2 Ps) was clearly
// worse (p99 61-131 ms in three runs). See bench/RESULTS.md.
const procsPerCPU = 2

// clusterProcsPerCPU is procsPerCPU for a command that runs a whole
// multi-node cluster in its one process: payswitch bench cluster, bench
// compare, and bench e2e --nodes 3. Three nodes are three Raft leaders or
// followers, three state machines and three sets of event loops waiting
// for a P. On the same VM, six interleaved pairs of bench e2e --nodes 3
// at 15,000 payments/s gave p99 48-118 ms with 4 per CPU against 86-153
// ms with 2 per CPU (worse in every pair), and bench cluster --quick a
// cluster/single ratio of 0.47-0.51 against 0.43-0.45.
const clusterProcsPerCPU = 4

// cpuProcs is the runtime's own GOMAXPROCS at start: the CPUs this
// process may use.
var cpuProcs = runtime.GOMAXPROCS(0)

// setProcs applies procsPerCPU unless GOMAXPROCS is set.
func setProcs() { setProcsPerCPU(procsPerCPU) }

// hostCluster applies clusterProcsPerCPU unless GOMAXPROCS is set. A
// command calls it before it starts more than one node in this process.
func hostCluster() { setProcsPerCPU(clusterProcsPerCPU) }

func setProcsPerCPU(perCPU int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(perCPU * cpuProcs)
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
