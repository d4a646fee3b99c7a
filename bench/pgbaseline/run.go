package pgbaseline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/payswitch/payswitch/ledger"
)

// Config configures Run.
type Config struct {
	// URL is the database to use; it must be empty of the baseline's
	// tables. Empty (the default): Run starts a throwaway Server and
	// stops it at the end.
	URL     string
	Options Options
	// Setup is applied before timing starts (see DB.Setup): the accounts
	// and their funding, as bench's workload builds them for the ledger.
	Setup []ledger.Batch
	// Batches are the timed batches, each applied whole (see DB.Apply)
	// before the next is asked for, so the sequence may reuse one Batch,
	// and a batch may post the pending transfers of the one before.
	Batches iter.Seq[*ledger.Batch]
	// Progress, when set, is called after each timed batch with the number
	// of commands done so far.
	Progress func(done int)
	// Logf, when set, receives the server's start and stop steps.
	Logf func(format string, args ...any)
}

// Result holds the figures of one timed run.
type Result struct {
	Transfers int // timed commands applied
	// Elapsed is the time spent in DB.Apply, summed over the timed
	// batches, as bench's RunLedger times Store.Apply: neither set-up nor
	// making the batches counts.
	Elapsed time.Duration
	TPS     float64 // Transfers per second of Elapsed
	// Rejected counts the commands that did not succeed, by code. Exists
	// is a success (an idempotent retry) and is not counted.
	Rejected map[ledger.Code]int
}

// RejectedTotal is the number of commands rejected, whatever the reason.
func (r Result) RejectedTotal() int {
	n := 0
	for _, count := range r.Rejected {
		n += count
	}
	return n
}

// Line is a one-line summary: throughput and the rejections by reason.
func (r Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "postgres_tps=%.0f transfers=%d elapsed_s=%.2f rejected=%d", r.TPS, r.Transfers, r.Elapsed.Seconds(), r.RejectedTotal())
	for _, code := range slices.Sorted(maps.Keys(r.Rejected)) {
		fmt.Fprintf(&b, " %s=%d", code, r.Rejected[code])
	}
	return b.String()
}

// Run measures the baseline on one workload: it starts a server unless
// cfg.URL is set, opens the database, applies the set-up untimed, times
// the batches, and checks the double-entry invariants (DB.Check).
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	url := cfg.URL
	if url == "" {
		srv, err := Start(ctx, cfg.Logf)
		if err != nil {
			return Result{}, err
		}
		defer func() { err = errors.Join(err, srv.Close()) }()
		url = srv.URL()
	}
	db, err := Open(ctx, url, cfg.Options)
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	if err := db.Setup(ctx, cfg.Setup); err != nil {
		return Result{}, err
	}
	res, err = db.Run(ctx, cfg.Batches, cfg.Progress)
	if err != nil {
		return res, err
	}
	if err := db.Check(ctx); err != nil {
		return res, fmt.Errorf("after the run: %w", err)
	}
	return res, nil
}

// Run applies the batches one after another, timing them, and counts the
// outcomes. progress may be nil.
func (db *DB) Run(ctx context.Context, batches iter.Seq[*ledger.Batch], progress func(done int)) (Result, error) {
	res := Result{Rejected: map[ledger.Code]int{}}
	var codes []ledger.Code
	for b := range batches {
		start := time.Now()
		var err error
		codes, err = db.Apply(ctx, b, codes[:0])
		res.Elapsed += time.Since(start)
		if err != nil {
			return res, err
		}
		for _, code := range codes {
			if !code.Succeeded() {
				res.Rejected[code]++
			}
		}
		res.Transfers += len(codes)
		if progress != nil {
			progress(res.Transfers)
		}
	}
	if res.Elapsed > 0 {
		res.TPS = float64(res.Transfers) / res.Elapsed.Seconds()
	}
	return res, nil
}
