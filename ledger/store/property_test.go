package store_test

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"pgregory.net/rapid"
)

// TestStoreMatchesModel is the store's main property: whatever command
// sequence, split into whatever batches, the Pebble store answers exactly
// what ledger.Memory answers (every result's code and timestamp, every
// event, the digest after every batch), with caches and a Bloom filter far
// too small for the data, and with closes and reopens in the middle. At
// the end the store passes Check, holds the model's records, answers the
// queries as the model implies, and a fresh store with default options
// replaying the same batches reaches the same digest after every batch.
//
// Each case runs on real Pebble on disk, mostly NoWAL (syncing adds only
// fsync time, which the crash test covers); only the fresh replay runs in
// memory. -rapid.checks sets the number of cases (100 by default, 20 with
// -short).
func TestStoreMatchesModel(t *testing.T) {
	var cover coverage
	cases := 0
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		dir := t.TempDir()
		rt.Cleanup(func() { _ = os.RemoveAll(dir) })
		tight := tightness{
			accountCacheMax: rapid.SampledFrom([]int{1, 2, 5}).Draw(rt, "accountCacheMax"),
			filterBytes:     rapid.SampledFrom([]int{64, 128, 1024}).Draw(rt, "filterBytes"),
		}
		options := store.Options{
			Dir:             dir,
			NoWAL:           rapid.IntRange(0, 7).Draw(rt, "sync") != 0,
			PendingCacheMax: rapid.SampledFrom([]int{1, 2, 1 << 20}).Draw(rt, "pendingCacheMax"),
		}
		h := newHarness(rt, options, tight, &cover)
		rt.Cleanup(h.close)
		g := newGenerator(rapidSource{rt}, generatorLimits{commandsMax: 40, accountsMax: 24})
		for range rapid.IntRange(1, 24).Draw(rt, "batches") {
			h.apply(g.batch())
			if rapid.Bool().Draw(rt, "checkDeadline") {
				h.checkNextDeadline()
			}
			if rapid.IntRange(0, 9).Draw(rt, "reopen") == 5 { // the middle: rapid favours the ends
				h.reopen()
			}
		}
		h.verify()
		h.replayFresh()
	})
	t.Logf("%d cases: %+v", cases, cover)
	// With enough cases every path must have been taken; with a handful
	// (-short, or -rapid.checks=5 while debugging) some may not be.
	if cases >= 50 && !t.Failed() {
		if cover.filterNo == 0 || cover.filterFalsePositive == 0 {
			t.Errorf("filter paths not both taken: %+v", cover)
		}
		if cover.pendingHit == 0 || cover.pendingMiss == 0 {
			t.Errorf("pending cache paths not both taken: %+v", cover)
		}
		if cover.accountCacheFull == 0 || cover.reopens == 0 {
			t.Errorf("account eviction or reopen never happened: %+v", cover)
		}
		if cover.retriesSame == 0 || cover.retriesChanged == 0 || cover.expired == 0 {
			t.Errorf("retries or expiry never happened: %+v", cover)
		}
	}
}

// TestAccountCacheEvictionAtMinimum drives the account cache at the
// smallest bound Validate accepts, 2*BatchCommandsMax, with more accounts
// than that and batches of 4,096 transfers that touch up to 8,192 accounts
// each, so that every batch evicts accounts a later batch needs again.
// Results must match the model and the cache must stay within its bound.
func TestAccountCacheEvictionAtMinimum(t *testing.T) {
	const (
		accountsCount  = 2*ledger.BatchCommandsMax + 4000
		transferBatch  = 4096
		transferRounds = 6
	)
	options := store.Options{
		Dir:             t.TempDir(),
		NoWAL:           true,
		AccountCacheMax: 2 * ledger.BatchCommandsMax,
		PendingCacheMax: 64,
	}
	h := newHarness(t, options, tightness{}, &coverage{})
	defer h.close()
	rng := rand.New(rand.NewPCG(7, 11))
	timestamp := timestampStart

	var accounts []ledger.Command
	for i := range accountsCount {
		a := ledger.Account{ID: ledger.NewID(1, uint64(i+1)), Participant: 1, Currency: 404, Kind: ledger.KindPosition}
		if i%2 == 1 {
			a.Flags, a.Limit = ledger.DebitsMustNotExceedCredits, 1000
		}
		accounts = append(accounts, ledger.Command{Op: ledger.OpCreateAccount, Account: a})
	}
	for start := 0; start < len(accounts); start += ledger.BatchCommandsMax {
		timestamp += 1e9
		h.apply(ledger.Batch{Timestamp: timestamp, Commands: accounts[start:min(start+ledger.BatchCommandsMax, len(accounts))]})
	}

	var pending []ledger.ID
	next := uint64(0)
	for round := range transferRounds {
		timestamp += 700e6 // pending transfers of 1 s expire two rounds later
		b := ledger.Batch{Timestamp: timestamp}
		for range transferBatch {
			next++
			t := ledger.Transfer{
				ID:            ledger.IDFromUint64(next),
				DebitAccount:  ledger.NewID(1, uint64(1+rng.IntN(accountsCount))),
				CreditAccount: ledger.NewID(1, uint64(1+rng.IntN(accountsCount))),
				Amount:        ledger.Amount(1 + rng.IntN(300)),
				Currency:      404,
				Code:          1,
			}
			switch k := rng.IntN(8); {
			case k == 0 && len(pending) > 0:
				t = ledger.Transfer{ID: t.ID, PendingID: pending[rng.IntN(len(pending))], Flags: ledger.PostPending}
			case k < 3:
				t.Flags, t.Timeout = ledger.Pending, 1
				pending = append(pending, t.ID)
			}
			b.Commands = append(b.Commands, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: t})
		}
		if round%2 == 1 {
			b.Commands = append(b.Commands, ledger.Command{Op: ledger.OpExpire})
		}
		h.apply(b)
		if got := h.store.AccountsCached(); got != options.AccountCacheMax {
			t.Fatalf("round %d: account cache holds %d, want it full at %d", round, got, options.AccountCacheMax)
		}
	}
	h.reopen()
	h.verify()
}
