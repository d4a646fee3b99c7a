package bench

import (
	"context"
	"math"
	"testing"
)

// TestRunLedger runs the ledger benchmark small: the workload must be
// funded well enough that nothing is refused, the store must pass its
// check (RunLedger fails otherwise), and the references must have written
// the same number of keys the ledger wrote.
func TestRunLedger(t *testing.T) {
	res, err := RunLedger(context.Background(), LedgerConfig{
		Transfers: 20_000, BatchSize: 1024, Dir: t.TempDir(),
		Workload: Workload{ColdAccounts: 17_000, PendingPercent: 20, Seed: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 0 {
		t.Errorf("%d transfers rejected; the workload is funded so that none is", res.Rejected)
	}
	if res.KeysPerTransfer < 1 || res.KeysPerTransfer > 5 {
		t.Errorf("%.2f keys per transfer: the references did not see the ledger's writes", res.KeysPerTransfer)
	}
	if res.LedgerTPS <= 0 || res.PebbleTPS <= 0 || res.PebbleSortedTPS <= 0 {
		t.Errorf("no throughput measured: %+v", res)
	}
}

// TestFundingFitsInSixtyFourBits: the hub funds every account, so its
// debits must fit in 64 bits for the largest account sets a run may use.
func TestFundingFitsInSixtyFourBits(t *testing.T) {
	const accountsMax = 16_000_000
	if fundingPerAccount > math.MaxUint64/(accountsMax+1) {
		t.Fatalf("funding %d per account overflows the hub's debits below %d accounts", fundingPerAccount, accountsMax)
	}
}
