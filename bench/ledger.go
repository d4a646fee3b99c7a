package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// LedgerConfig configures the standalone ledger benchmark.
type LedgerConfig struct {
	Transfers int    // timed transfers; default 1,000,000
	BatchSize int    // transfers per batch; default 4,096
	Dir       string // parent of the two temporary stores; default os.TempDir()
	Workload  Workload
	// Progress, when set, is called after each timed batch with the number
	// of transfers done so far.
	Progress func(done int)
	Logger   *slog.Logger
}

func (c LedgerConfig) withDefaults() LedgerConfig {
	if c.Transfers == 0 {
		c.Transfers = 1_000_000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.Workload = c.Workload.withDefaults()
	return c
}

// Validate reports every problem with the configuration.
func (c LedgerConfig) Validate() error {
	var errs []error
	if c.Transfers < 1 {
		errs = append(errs, fmt.Errorf("transfers %d: want at least 1", c.Transfers))
	}
	if c.BatchSize < 1 || c.BatchSize > ledger.BatchCommandsMax {
		errs = append(errs, fmt.Errorf("batch size %d: want 1 to %d", c.BatchSize, ledger.BatchCommandsMax))
	}
	w := c.Workload
	if w.HotAccounts < 2 || w.ColdAccounts < 0 || w.HotPercent < 0 || w.HotPercent > 100 || w.PendingPercent < 0 || w.PendingPercent > 100 {
		errs = append(errs, fmt.Errorf("workload %+v: want at least 2 hot accounts and percentages within 0..100", w))
	}
	return errors.Join(errs...)
}

// LedgerResult holds the figures of one ledger benchmark run.
type LedgerResult struct {
	Transfers           int
	Rejected            int     // transfers the ledger refused (should be 0)
	LedgerSeconds       float64 // time in Store.Apply, summed over timed batches
	PebbleSeconds       float64 // time in the raw Pebble reference, summed likewise
	PebbleSortedSeconds float64 // the same writes in the ledger\'s committed (key) order
	PebbleSortedTPS     float64
	RatioSorted         float64 // LedgerTPS / PebbleSortedTPS
	LedgerTPS           float64
	PebbleTPS           float64
	Ratio               float64 // LedgerTPS / PebbleTPS
	BatchP50Ms          float64
	BatchP99Ms          float64
	KeysPerTransfer     float64 // Pebble keys written per transfer, same in both
	BytesPerTransfer    float64
	RSSMB               float64 // resident set size at the end
	PeakRSSMB           float64 // high-water mark of the resident set
}

// Line is the summary line the CLI prints last.
func (r LedgerResult) Line() string {
	return fmt.Sprintf("ledger_tps=%.0f pebble_tps=%.0f ratio=%.2f p99_batch_ms=%.2f rss_mb=%.0f",
		r.LedgerTPS, r.PebbleTPS, r.Ratio, r.BatchP99Ms, r.RSSMB)
}

// RunLedger measures the ledger store against its physical reference in
// one run. Both are fresh stores in temporary directories with the same
// Pebble options and synced commits. For every timed batch the ledger
// applies it (lookups, rules, encoding, one synced Pebble batch), and the
// reference then writes the very same keys and values, captured from the
// ledger's Pebble batch, as a plain synced Pebble batch: no reads, no logic.
// Alternating batch by batch means both see the same machine noise.
func RunLedger(ctx context.Context, cfg LedgerConfig) (LedgerResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return LedgerResult{}, err
	}
	root, err := os.MkdirTemp(cfg.Dir, "payswitch-bench-ledger-")
	if err != nil {
		return LedgerResult{}, err
	}
	defer os.RemoveAll(root)

	// The ledger's writes of each batch, captured for the references: in
	// the order the state machine produced them, and as committed (sorted
	// by key, which is the ledger's own work).
	var produced, committed writeList
	var capturing bool
	st, err := store.Open(store.Options{Dir: filepath.Join(root, "ledger"), Logger: cfg.Logger,
		OnCommit: func(writes []store.Write, repr []byte) {
			if capturing {
				produced.capture(writes)
				committed.captureRepr(repr)
			}
		}})
	if err != nil {
		return LedgerResult{}, err
	}
	defer st.Close()
	raw, err := store.OpenPebble(filepath.Join(root, "raw"), nil)
	if err != nil {
		return LedgerResult{}, err
	}
	defer raw.Close()
	rawSorted, err := store.OpenPebble(filepath.Join(root, "raw-sorted"), nil)
	if err != nil {
		return LedgerResult{}, err
	}
	defer rawSorted.Close()

	index := uint64(0)
	clock := uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	for _, b := range cfg.Workload.setupBatches(cfg.BatchSize) {
		index++
		b.Timestamp = clock
		out, err := st.Apply(index, &b)
		if err != nil {
			return LedgerResult{}, fmt.Errorf("set-up batch %d: %w", index, err)
		}
		for i, r := range out.Results {
			if r.Code != ledger.OK {
				return LedgerResult{}, fmt.Errorf("set-up batch %d, command %d: %s", index, i, r.Code)
			}
		}
	}

	hist := hdrhistogram.New(1, 60_000_000, 3) // microseconds
	var res LedgerResult
	var ledgerTime, rawTime, sortedTime time.Duration
	var keys, bytes int
	gen := newGenerator(cfg.Workload)
	var batch ledger.Batch
	capturing = true
	for done := 0; done < cfg.Transfers; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n := min(cfg.BatchSize, cfg.Transfers-done)
		gen.next(&batch, n)
		index++
		clock += uint64(time.Millisecond)
		batch.Timestamp = clock

		start := time.Now()
		out, err := st.Apply(index, &batch)
		elapsed := time.Since(start)
		if err != nil {
			return res, fmt.Errorf("batch %d: %w", index, err)
		}
		ledgerTime += elapsed
		_ = hist.RecordValue(max(elapsed.Microseconds(), 1))
		for _, r := range out.Results {
			if r.Code != ledger.OK {
				res.Rejected++
			}
		}

		keys += len(produced.ops)
		bytes += len(produced.arena)
		start = time.Now()
		if err := writeRaw(raw, produced.ops); err != nil {
			return res, err
		}
		rawTime += time.Since(start)
		start = time.Now()
		if err := writeRaw(rawSorted, committed.ops); err != nil {
			return res, err
		}
		sortedTime += time.Since(start)

		done += n
		if cfg.Progress != nil {
			cfg.Progress(done)
		}
	}
	res.RSSMB, res.PeakRSSMB = residentMB()
	if err := st.Check(); err != nil {
		return res, fmt.Errorf("ledger store check after the run: %w", err)
	}
	res.Transfers = cfg.Transfers
	res.LedgerSeconds, res.PebbleSeconds, res.PebbleSortedSeconds = ledgerTime.Seconds(), rawTime.Seconds(), sortedTime.Seconds()
	res.LedgerTPS = float64(cfg.Transfers) / res.LedgerSeconds
	res.PebbleTPS = float64(cfg.Transfers) / res.PebbleSeconds
	res.PebbleSortedTPS = float64(cfg.Transfers) / res.PebbleSortedSeconds
	res.Ratio = res.LedgerTPS / res.PebbleTPS
	res.RatioSorted = res.LedgerTPS / res.PebbleSortedTPS
	res.BatchP50Ms = float64(hist.ValueAtQuantile(50)) / 1000
	res.BatchP99Ms = float64(hist.ValueAtQuantile(99)) / 1000
	res.KeysPerTransfer = float64(keys) / float64(cfg.Transfers)
	res.BytesPerTransfer = float64(bytes) / float64(cfg.Transfers)
	return res, nil
}

// writeList holds one batch's writes, copied out of the store's buffers.
type writeList struct {
	arena []byte
	ops   []store.Write
}

func (l *writeList) reset() {
	l.arena = l.arena[:0]
	l.ops = l.ops[:0]
}

func (l *writeList) add(key, value []byte, del bool) {
	k := len(l.arena)
	l.arena = append(l.arena, key...)
	v := len(l.arena)
	l.arena = append(l.arena, value...)
	l.ops = append(l.ops, store.Write{Key: l.arena[k:v:v], Value: l.arena[v:len(l.arena):len(l.arena)], Delete: del})
}

// fixup re-points the slices after the arena may have moved.
func (l *writeList) fixup() {
	off := 0
	for i := range l.ops {
		op := &l.ops[i]
		k, v := len(op.Key), len(op.Value)
		op.Key = l.arena[off : off+k : off+k]
		op.Value = l.arena[off+k : off+k+v : off+k+v]
		off += k + v
	}
}

func (l *writeList) capture(writes []store.Write) {
	l.reset()
	for _, w := range writes {
		l.add(w.Key, w.Value, w.Delete)
	}
	l.fixup()
}

// captureRepr lists the operations of a Pebble batch representation.
func (l *writeList) captureRepr(repr []byte) {
	l.reset()
	r := batchrepr.Read(repr)
	for {
		kind, key, value, ok, err := r.Next()
		if !ok || err != nil {
			break
		}
		l.add(key, value, kind == pebble.InternalKeyKindDelete)
	}
	l.fixup()
}

// writeRaw is the physical reference: one synced Pebble batch of the
// given writes, in the given order.
func writeRaw(db *pebble.DB, ops []store.Write) error {
	b := db.NewBatch()
	for _, op := range ops {
		if op.Delete {
			_ = b.Delete(op.Key, nil)
		} else {
			_ = b.Set(op.Key, op.Value, nil)
		}
	}
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	return err
}
