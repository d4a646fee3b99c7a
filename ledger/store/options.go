package store

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/payswitch/payswitch/ledger"
)

// Options configure a Store. The zero value of every field means its
// documented default.
type Options struct {
	// Dir is the Pebble directory. Required.
	Dir string
	// NoWAL keeps no write-ahead log: a batch commits to Pebble's memtable
	// only and reaches disk when Pebble flushes the memtable (when it is
	// full, and at Sync, Checkpoint and Close). A crash loses the batches
	// applied since the last flush, never part of one: the store reopens
	// at the applied index of the last flushed batch. Default false: a
	// standalone store writes every batch to its WAL and syncs it before
	// Apply returns. A replica sets it, because its synced Raft log is the
	// durability and a restart replays the log past the store's applied
	// index; writing every batch a second time, into a WAL nobody reads,
	// only made the Raft log's fsyncs wait longer for the disk
	// (bench/RESULTS.md).
	NoWAL bool
	// AccountCacheMax bounds the in-memory account cache. Default 1<<20
	// accounts (about 150 MiB at most); at least 2*ledger.BatchCommandsMax,
	// so that one batch's accounts always fit.
	AccountCacheMax int
	// PendingCacheMax bounds the cache of open pending transfers, which
	// saves a Pebble read on every post or void. Default 1<<20.
	PendingCacheMax int
	// FilterBytes sizes the in-memory Bloom filter of transfer IDs that
	// lets a new ID skip its Pebble read. Default 16 MiB: about 1% false
	// positives at 14 million transfers, degrading smoothly beyond (a false
	// positive costs one Pebble read, never a wrong answer).
	FilterBytes int
	// Logger receives the store's logs. Default slog.Default().
	Logger *slog.Logger
	// FS replaces the file system, for tests (vfs.NewMem). Default the OS.
	FS vfs.FS
	// OnCommit, when set, sees every applied batch's Pebble writes just
	// before they commit: produced in the order the state machine produced
	// them, committed as the encoded Pebble batch (sorted by key). Both are
	// valid only during the call. The benchmark replays them into raw
	// Pebble as its physical reference.
	OnCommit func(produced []Write, committed []byte)
}

// Write is one Pebble write of a batch.
type Write struct {
	Key, Value []byte
	Delete     bool
}

const (
	accountCacheDefault = 1 << 20
	pendingCacheDefault = 1 << 20
	filterBytesDefault  = 16 << 20
	filterBytesMin      = 1 << 10
	filterBytesMax      = 1 << 30
)

func (o Options) withDefaults() Options {
	if o.AccountCacheMax == 0 {
		o.AccountCacheMax = accountCacheDefault
	}
	if o.PendingCacheMax == 0 {
		o.PendingCacheMax = pendingCacheDefault
	}
	if o.FilterBytes == 0 {
		o.FilterBytes = filterBytesDefault
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if o.AccountCacheMax < 2*ledger.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("AccountCacheMax %d is below %d, the accounts one batch can touch", o.AccountCacheMax, 2*ledger.BatchCommandsMax))
	}
	if o.PendingCacheMax < 0 {
		errs = append(errs, fmt.Errorf("PendingCacheMax %d is negative", o.PendingCacheMax))
	}
	if o.FilterBytes < filterBytesMin || o.FilterBytes > filterBytesMax {
		errs = append(errs, fmt.Errorf("FilterBytes %d is outside [%d, %d]", o.FilterBytes, filterBytesMin, filterBytesMax))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrOptions, errors.Join(errs...))
	}
	return nil
}

// OpenPebble opens a Pebble DB in dir on fs (nil for the OS) as the store
// opens its own: with pebbleOptions and its table writes paced. The
// benchmark's raw-Pebble reference opens its DBs with it.
func OpenPebble(dir string, fs vfs.FS) (*pebble.DB, error) {
	db, _, err := openPebble(dir, fs, false)
	return db, err
}

// openPebble is OpenPebble, and returns the DB's pacer too.
func openPebble(dir string, fs vfs.FS, noWAL bool) (*pebble.DB, *pacer, error) {
	p := newPacer(tableWriteRate)
	opts := pebbleOptions(fs, p)
	opts.DisableWAL = noWAL
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, nil, err
	}
	p.setBehind(func() bool { return pebbleBehind(db) })
	return db, p, nil
}

// PebbleOptions returns the options the store opens Pebble with, less the
// pacing of table writes, which needs the open DB (OpenPebble adds it).
func PebbleOptions(fs vfs.FS) *pebble.Options { return pebbleOptions(fs, nil) }

// pebbleOptions returns the Pebble options the store opens its DB with,
// its table writes paced by p (pace.go), or not when p is nil: a snapshot
// being restored or read runs flat out.
//
// Why these values: the ledger writes a steady stream of small keys in
// large synced batches. Pebble's defaults (4 MiB memtables, L0 compaction
// at 4 files) flush and compact so often under that stream that writes
// stall: on a 2-core machine about 30k transfers/s at 1,000 per batch,
// against 160k-200k with a 64 MiB memtable. Larger memtables and a more
// tolerant L0 let compaction keep up; a Bloom filter on every level keeps
// the point reads for accounts and transfer IDs to one block read.
//
// Flushes and compactions run at a lower CPU priority than the rest of
// the process (backgroundListener), and write their tables at a pace
// (pacer).
//
// Small files in L0 and the base level keep a compaction from rewriting
// the whole ledger. The big tables are append streams side by side:
// transfers by acquirer (their IDs lead with the acquirer), history by
// account. A flush puts each stream's new keys just past that stream's old
// ones, so an L0 file that spans several streams overlaps every older key
// of the streams in between, and compacting it into the base level
// rewrites them all. With Pebble's defaults (2 MiB L0 files, split only
// after 20 MiB of base-level overlap; 4 MiB base-level files) each L0 ->
// base compaction rewrote 8-26 MB of old data, more as the ledger grew: in
// a 60 s run at 30,000 payments/s it wrote 664 MB for 212 MB flushed.
// With 512 KiB L0 files, split after 5 MiB of overlap, and 2 MiB
// base-level files, a flush splits at stream boundaries, a compaction
// rewrites one or two base files (1-2 MB), and the same run wrote 223 MB
// for 203 MB flushed. In the second half of such runs the niced flushes
// and compactions took 3-4% of two CPUs instead of 10-12%, which is what
// the payments' tail needs (bench/RESULTS.md). The cost is more, smaller
// files; the levels below the base keep Pebble's doubling (4 MiB, 8 MiB,
// ...).
//
// The block cache is sized beyond the blocks it is meant to hold because
// Pebble charges its memtables to it: every memtable, the one taking
// writes and those waiting to flush, reserves its size in the cache. With
// Pebble's default 8 MB cache, one 64 MiB memtable left the cache no room
// at all, so every read below the memtable read and decompressed a block
// from the file: checking a 20 s run's 660,000 payments one by one in key
// order took 12 s of CPU, against 1.6 s with the blocks cached. The cache
// holds blockCacheSize of blocks beside one memtable being written and one
// flushing; a third or fourth memtable (writes are stalling then anyway)
// squeezes it.
//
// WALBytesPerSync serves a snapshot being restored, whose batches commit
// without syncing until the last: without it the WAL of a whole 64 MiB
// memtable is synced in one go when the memtable rotates, a burst that
// other nodes on the same disk feel in their own fsyncs. (A standalone
// store syncs every batch; a replica's store keeps no WAL, Options.NoWAL.)
func pebbleOptions(fs vfs.FS, p *pacer) *pebble.Options {
	if fs == nil {
		fs = vfs.Default
	}
	var listener pebble.EventListener
	if p != nil {
		fs = pacedFS{FS: fs, p: p}
		listener = p.listener()
	}
	if bg := backgroundListener(); bg != nil {
		listener = pebble.TeeEventListener(listener, *bg)
	}
	opts := &pebble.Options{
		FS:                          fs,
		EventListener:               &listener,
		MemTableSize:                memTableSize,
		CacheSize:                   blockCacheSize + 2*memTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       l0CompactionThreshold,
		L0CompactionFileThreshold:   1000,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               256 << 20,
		BytesPerSync:                1 << 20,
		WALBytesPerSync:             512 << 10,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      quietLogger{},
	}
	opts.TargetFileSizes[0] = l0TargetFileSize
	opts.TargetFileSizes[1] = baseTargetFileSize
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].BlockSize = 32 << 10
	}
	opts.CompactionConcurrencyRange = func() (int, int) { return 1, 2 }
	return opts
}

// The memtable size and the block cache's room for blocks; see
// pebbleOptions.
const (
	memTableSize   = 64 << 20
	blockCacheSize = 64 << 20
)

// l0CompactionThreshold is how many L0 sublevels start a compaction.
const l0CompactionThreshold = 4

// The target file sizes of L0 and of the base level; see pebbleOptions.
// Pebble splits a flush's output once the output's overlap with the base
// level passes ten times l0TargetFileSize.
const (
	l0TargetFileSize   = 512 << 10
	baseTargetFileSize = 2 << 20
)

// quietLogger drops Pebble's informational lines and keeps its errors on
// the standard logger; fatal errors still stop the process as Pebble
// requires.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	slog.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}
