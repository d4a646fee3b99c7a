package store

import (
	"runtime"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// backgroundListener runs Pebble's flushes and compactions at a lower CPU
// priority than the rest of the process, as RocksDB does for its
// background threads. They are batch work: on a busy node a 64 MiB flush
// that takes its share of the CPUs for a quarter of a second delays every
// payment in flight, while the same flush run in the CPUs' idle moments
// ends a little later and delays none. (At 30,000 payments/s on two CPUs,
// p99 over six 20 s runs was 26-41 ms with it, 34-62 ms without.)
//
// The cost: the job's goroutine is pinned to its lowered thread, and when
// the kernel runs that thread it still holds one of the runtime's Ps. A
// flight-recorder trace caught a compaction doing so while a goroutine
// queued on the same P waited 43 ms; with the jobs neither pinned nor
// lowered, no goroutine waited over 50 ms for a P in six 60 s runs
// against 67-117 ms, but p99 was no better overall (bench/RESULTS.md,
// 2026-11-28 afternoon). Pacing the jobs' table writes (pace.go) gives
// the P back while a job sleeps for its pace; niced and paced together
// did better than either alone.
//
// Pebble calls each Begin and its End with the same job ID on the
// goroutine that runs the job.
func backgroundListener() *pebble.EventListener {
	var mu sync.Mutex
	restores := map[int]func(){}
	begin := func(job int) {
		restore := lowerThreadPriority()
		mu.Lock()
		restores[job] = restore
		mu.Unlock()
	}
	end := func(job int) {
		mu.Lock()
		restore := restores[job]
		delete(restores, job)
		mu.Unlock()
		if restore != nil {
			restore()
		}
	}
	return &pebble.EventListener{
		FlushBegin:      func(i pebble.FlushInfo) { begin(i.JobID) },
		FlushEnd:        func(i pebble.FlushInfo) { end(i.JobID) },
		CompactionBegin: func(i pebble.CompactionInfo) { begin(i.JobID) },
		CompactionEnd:   func(i pebble.CompactionInfo) { end(i.JobID) },
	}
}

// backgroundNice is how much lower than the rest of the process Pebble's
// flushes and compactions run. At nice +10 a thread gets about a tenth of
// the CPU a normal one does when both want it, and all of it when the
// normal ones are idle.
const backgroundNice = 10

// lowerThreadPriority pins the calling goroutine to its OS thread and
// lowers that thread's CPU priority by backgroundNice. The returned
// restore puts the priority back and unpins. A process may lower its
// priority but, without CAP_SYS_NICE or a raised RLIMIT_NICE (systemd's
// LimitNICE), not raise it again: then the goroutine stays pinned to the
// lowered thread, which the runtime ends when the goroutine exits. Pebble
// runs every flush and every compaction on a goroutine of its own, so
// only the job's last steps (after End) run lowered.
func lowerThreadPriority() (restore func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	// The raw getpriority returns 20 - nice, so that it is never negative.
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	nice := 20 - raw
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, min(nice+backgroundNice, 19)); err != nil {
		runtime.UnlockOSThread()
		return func() {}
	}
	return func() {
		if unix.Setpriority(unix.PRIO_PROCESS, tid, nice) == nil {
			runtime.UnlockOSThread()
		}
	}
}

// startWriteback asks the kernel to start writing bytes [off, off+n) of f
// to disk, without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE; see pacedFile). A file without a descriptor (an
// in-memory file system) is left alone.
func startWriteback(f vfs.File, off, n int64) error {
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return nil
	}
	return unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
