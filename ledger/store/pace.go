package store

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/time/rate"
)

// Pebble's flushes and compactions are paced: the table files they write
// go to disk at no more than tableWriteRate, so that a flush or a
// compaction that could write faster spreads its CPU out instead. While a
// job waits for its rate it sleeps, and its goroutine, pinned to its
// lowered thread (backgroundListener), gives the thread's P back to the
// scheduler; a job that only runs niced keeps the P whenever the kernel
// runs its thread, and a goroutine queued on that P waited up to 268 ms
// for it. At 30,000 payments/s on two CPUs a node writes about 7.5 MB of
// tables a second and the jobs sleep 0.2-0.8 s a minute for the pace, yet
// in twenty interleaved pairs of 60 s runs the longest wait for a P was
// lower with the pacing in nineteen (21-101 ms against 34-268 ms); p99 was
// lower in twelve, median 49.0 ms against 53.9 (bench/RESULTS.md,
// 2026-11-28 evening). Pacing without the nicing was worse than either;
// at 16 MiB/s the jobs slept 2.5-6.2 s a minute for no clearer gain.
//
// Pacing must never be why writes stall. It is off while Pebble is behind:
// while a write stall is in progress (the EventListener says so), and while
// more than one memtable waits to be flushed or L0 has piled up more than
// twice the sublevels that start a compaction, which the pacer checks at
// most every paceCheckEvery. Then the jobs run flat out, as they would
// without it, until Pebble has caught up. Neither `payswitch bench ledger`
// nor `bench cluster`, which write several times faster, lost throughput.
//
// Only tables are paced: the WAL and the MANIFEST are on the commit path.
//
// A table file also starts its own writeback as it is written, every
// writebackChunk bytes (startWriteback). Left to the page cache, a table's
// bytes reach the disk when Pebble syncs the finished file, and that
// fdatasync puts the whole file (an L0 table of a flush is about 512 KiB,
// a base-level table 2 MiB) in the disk's queue at once, in front of the
// Raft log's next fsync. Pebble's own BytesPerSync does not help here: it
// trails the write by 1 MiB, so a table under that size is written back
// only by its final sync. In chunks, a log fsync waits behind 128 KiB at
// most.
const (
	// tableWriteRate is the pace in bytes per second: a 30,000 payments/s
	// node writes about 7.5 MB of tables a second on average, so the pace
	// leaves room four times over.
	tableWriteRate = 32 << 20
	// paceBurst is how far a job may run ahead of its rate, and paceChunk
	// how many written bytes it pays for at a time: a job sleeps about
	// every 8 ms of its rate rather than after every 32 KiB block.
	paceBurst      = 1 << 20
	paceChunk      = 256 << 10
	paceCheckEvery = 100 * time.Millisecond
	writebackChunk = 128 << 10
)

// pacer is the rate that one DB's table writes share.
type pacer struct {
	lim   *rate.Limiter
	now   func() time.Time
	sleep func(time.Duration)

	// stalls counts the write stalls in progress.
	stalls atomic.Int32
	// behind, once set, reports whether Pebble is behind; its answer is
	// kept for paceCheckEvery in wasBehind.
	behind    atomic.Pointer[func() bool]
	checked   atomic.Int64 // when behind was last asked, UnixNano
	wasBehind atomic.Bool

	written atomic.Int64 // table bytes written
	waited  atomic.Int64 // nanoseconds slept for the rate
}

func newPacer(bytesPerSecond int) *pacer {
	return &pacer{
		lim:   rate.NewLimiter(rate.Limit(bytesPerSecond), paceBurst),
		now:   time.Now,
		sleep: time.Sleep,
	}
}

// setBehind installs the check of whether Pebble is behind.
func (p *pacer) setBehind(f func() bool) { p.behind.Store(&f) }

// pay accounts n written bytes, n at most paceBurst, and sleeps until the
// rate allows them, unless pacing is off for now.
func (p *pacer) pay(n int) {
	if p.stalls.Load() > 0 || p.isBehind() {
		return
	}
	now := p.now()
	if d := p.lim.ReserveN(now, n).DelayFrom(now); d > 0 {
		p.waited.Add(int64(d))
		p.sleep(d)
	}
}

func (p *pacer) isBehind() bool {
	f := p.behind.Load()
	if f == nil {
		return false
	}
	now := p.now().UnixNano()
	if last := p.checked.Load(); now-last < int64(paceCheckEvery) && last != 0 {
		return p.wasBehind.Load()
	}
	p.checked.Store(now)
	b := (*f)()
	p.wasBehind.Store(b)
	return b
}

// listener tells the pacer when writes stall.
func (p *pacer) listener() pebble.EventListener {
	return pebble.EventListener{
		WriteStallBegin: func(pebble.WriteStallBeginInfo) { p.stalls.Add(1) },
		WriteStallEnd:   func() { p.stalls.Add(-1) },
	}
}

// pebbleBehind reports whether db has flushes or L0 compactions waiting:
// more than one memtable queued for a flush, or L0 more than twice as deep
// as the depth that starts a compaction.
func pebbleBehind(db *pebble.DB) bool {
	m := db.Metrics()
	return m.MemTable.Count > 2 || m.Levels[0].Sublevels > 2*l0CompactionThreshold
}

// PaceStats say how much the table writes were paced.
type PaceStats struct {
	// TableBytes is what flushes and compactions wrote to table files.
	TableBytes int64
	// Waited is how long they slept for the pace, summed over jobs.
	Waited time.Duration
}

func (p *pacer) stats() PaceStats {
	return PaceStats{TableBytes: p.written.Load(), Waited: time.Duration(p.waited.Load())}
}

// pacedFS paces writes to the table files it creates.
type pacedFS struct {
	vfs.FS
	p *pacer
}

func (fs pacedFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return &pacedFile{File: f, p: fs.p, writeback: startWriteback}, nil
}

// Unwrap lets Pebble see the file system underneath.
func (fs pacedFS) Unwrap() vfs.FS { return fs.FS }

// pacedFile pays for its writes paceChunk at a time, after writing them;
// a tail under paceChunk at the end of the file goes unpaid. It starts the
// writeback of every writebackChunk it has written; a tail under that
// is left to the file's final sync.
type pacedFile struct {
	vfs.File
	p      *pacer
	unpaid int
	// written is the file's size so far, and writtenBack how much of it
	// has been handed to writeback.
	written, writtenBack int64
	writeback            func(f vfs.File, off, n int64) error
}

func (f *pacedFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.written += int64(n)
	if f.written-f.writtenBack >= writebackChunk {
		// Advisory: a failure costs only the smoothing, and Pebble's sync
		// of the finished file reports any error that matters.
		_ = f.writeback(f.File, f.writtenBack, f.written-f.writtenBack)
		f.writtenBack = f.written
	}
	f.p.written.Add(int64(n))
	f.unpaid += n
	for f.unpaid >= paceChunk {
		f.unpaid -= paceChunk
		f.p.pay(paceChunk)
	}
	return n, err
}
