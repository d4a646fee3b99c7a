package store_test

import (
	"math/rand/v2"
	"testing"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
)

// TestFilterRulesOutNewIDs checks that the transfer-ID filter does its job,
// which no answer of the store shows: below its design load it rules out
// almost every new ID, so that a new transfer costs no Pebble read. Client
// IDs are mostly sequential with a zero high half, so the test uses those,
// and random ones besides. The model tests prove the filter never rules
// out a stored ID; this one proves it rules out the others.
func TestFilterRulesOutNewIDs(t *testing.T) {
	const (
		storedCount = 4000
		probeCount  = 20_000
		// 64 KiB for 4,000 IDs is far below the design load (16 MiB for
		// 14 million): a sound filter answers "maybe" for a new ID well
		// under once in a thousand.
		filterBytes          = 64 << 10
		falsePositivesMax    = probeCount / 100
		transfersPerBatchMax = 1000
	)
	h := newHarness(t, store.Options{Dir: t.TempDir(), NoWAL: true, FilterBytes: filterBytes}, tightness{}, &coverage{})
	defer h.close()
	h.apply(ledger.Batch{Timestamp: timestampStart, Commands: createAccounts(accountA, accountB)})
	rng := rand.New(rand.NewPCG(3, 4))
	random := func() ledger.ID { return ledger.NewID(rng.Uint64(), rng.Uint64()) }
	var stored []ledger.ID
	b := ledger.Batch{Timestamp: timestampStart + 1e9}
	for i := range storedCount {
		c := transfer(uint64(i+1), accountA, accountB, 1)
		if i%4 == 3 {
			c.Transfer.ID = random()
		}
		stored = append(stored, c.Transfer.ID)
		b.Commands = append(b.Commands, c)
		if len(b.Commands) == transfersPerBatchMax {
			h.apply(b)
			b = ledger.Batch{Timestamp: b.Timestamp + 1e9}
		}
	}
	requireOK(t, h)
	h.reopen() // the filter rebuilt from disk must be as good as the one built by Apply
	for _, id := range stored {
		if !h.store.FilterMayContain(id) {
			t.Fatalf("filter rules out stored transfer %s", id)
		}
	}
	for name, next := range map[string]func(i int) ledger.ID{
		"sequential": func(i int) ledger.ID { return ledger.IDFromUint64(uint64(storedCount + 1 + i)) },
		"random":     func(int) ledger.ID { return random() },
	} {
		positives := 0
		for i := range probeCount {
			if h.store.FilterMayContain(next(i)) {
				positives++
			}
		}
		if positives > falsePositivesMax {
			t.Errorf("%s new IDs: the filter says maybe to %d of %d, want at most %d",
				name, positives, probeCount, falsePositivesMax)
		}
	}
}
