package ledger_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/internal/invariant"
	"github.com/payswitch/payswitch/ledger"
)

// Batch-level behaviour: timestamps, expiry's bound, determinism and the
// batch size assertion.

// TestApplyTimestamps checks that event timestamps strictly increase
// within and across batches whatever the batch clock does, and that an
// empty batch keeps the last timestamp.
func TestApplyTimestamps(t *testing.T) {
	h := newHarness(t)
	out := h.apply(100*second, account(1, 7, kes, ledger.KindHub, 0, 0), account(2, 7, kes, ledger.KindHub, 0, 0))
	if out.Results[0].Timestamp != 100*second || out.Results[1].Timestamp != 100*second+1 || out.LastTimestamp != 100*second+1 {
		t.Fatalf("first batch: %+v, last %d", out.Results, out.LastTimestamp)
	}
	// The clock went backwards: the batch continues after the last one.
	out = h.apply(50*second, transfer(10, 1, 2, 5), transfer(11, 1, 2, 5))
	if out.Results[0].Timestamp != 100*second+2 || out.LastTimestamp != 100*second+3 {
		t.Fatalf("backwards batch: %+v, last %d", out.Results, out.LastTimestamp)
	}
	out = h.apply(0)
	if out.LastTimestamp != 100*second+3 {
		t.Fatalf("empty batch: last %d", out.LastTimestamp)
	}
	out = h.apply(100*second+3, transfer(12, 1, 2, 5))
	if out.Results[0].Timestamp != 100*second+4 {
		t.Fatalf("same-clock batch: %+v", out.Results)
	}
	out = h.apply(200*second, transfer(13, 1, 2, 5))
	if out.Results[0].Timestamp != 200*second {
		t.Fatalf("clock ahead: %+v", out.Results)
	}
	var last uint64
	for _, tr := range h.m.Transfers() {
		if tr.Timestamp <= last {
			t.Fatalf("transfer %s at %d after %d", tr.ID, tr.Timestamp, last)
		}
		last = tr.Timestamp
	}
}

// TestExpireOrderAndMore checks that expire voids in deadline order, at
// most ExpireTransfersMax at a time, and says when more are due.
func TestExpireOrderAndMore(t *testing.T) {
	h := newHarness(t)
	h.mustApply(t0, account(1, 7, kes, ledger.KindHub, 0, 0), account(2, 8, kes, ledger.KindHub, 0, 0))
	// Later IDs get shorter timeouts, so deadline order is not ID order.
	const n = ledger.ExpireTransfersMax + 1
	cmds := make([]ledger.Command, 0, n)
	for i := range uint64(n) {
		cmds = append(cmds, reserve(100+i, 1, 2, 1, uint32(10+n-i)))
	}
	h.mustApply(t0+second, cmds...)
	out := h.apply(t0+second+(10+n)*second, expire())
	if r := out.Results[0]; r.Expired != ledger.ExpireTransfersMax || !r.More {
		t.Fatalf("first expire: %+v", r)
	}
	for i := 1; i < len(out.Events); i++ {
		prev, cur := h.transfer(out.Events[i-1].ID.Lo()), h.transfer(out.Events[i].ID.Lo())
		if ledger.ComparePendingOrder(prev, cur) >= 0 {
			t.Fatalf("expired %s before %s", prev.ID, cur.ID)
		}
	}
	if first := out.Events[0].ID; first != id(100+n-1) {
		t.Fatalf("first expired %s, want the shortest timeout", first)
	}
	out = h.apply(0, expire())
	if r := out.Results[0]; r.Expired != 1 || r.More {
		t.Fatalf("second expire: %+v", r)
	}
	if got := balancesOf(h.account(1)); got != (balances{}) {
		t.Fatalf("account 1 after expiry: %s", got)
	}
}

// TestApplyIsDeterministic applies the same batches to two ledgers and
// compares every output; a replica must reach the same state.
func TestApplyIsDeterministic(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	for s, tc := range applyCases {
		for _, st := range tc.steps {
			oa := a.apply(t0+uint64(s)*second+st.at, st.cmds...)
			ra, ea, da := slices.Clone(oa.Results), slices.Clone(oa.Events), oa.Digest
			ob := b.apply(t0+uint64(s)*second+st.at, st.cmds...)
			if !slices.Equal(ra, ob.Results) || !slices.Equal(ea, ob.Events) || da != ob.Digest {
				t.Fatalf("row %s: outputs differ", tc.name)
			}
		}
	}
}

// TestApplyRefusesOversizedBatch checks the assertion on the batch size: a
// batch that large can only come from a bug, since DecodeBatch refuses it.
func TestApplyRefusesOversizedBatch(t *testing.T) {
	defer func() {
		var failed invariant.AssertionFailed
		if err, ok := recover().(error); !ok || !errors.As(err, &failed) {
			t.Fatalf("recovered %v, want an assertion failure", err)
		}
	}()
	b := &ledger.Batch{Commands: make([]ledger.Command, ledger.BatchCommandsMax+1)}
	ledger.NewMemory().Apply(b)
}

func TestAvailable(t *testing.T) {
	for _, tc := range []struct {
		a    ledger.Account
		want ledger.Amount
	}{
		{ledger.Account{}, ^ledger.Amount(0)}, // no rule, no bound
		{ledger.Account{Flags: ledger.CreditsMustNotExceedDebits, DebitsPosted: 9}, ^ledger.Amount(0)},
		{ledger.Account{Flags: ledger.DebitsMustNotExceedCredits, CreditsPosted: 500, Limit: 1000, DebitsPending: 200, DebitsPosted: 300}, 1000},
		{ledger.Account{Flags: ledger.DebitsMustNotExceedCredits, CreditsPending: 500, Limit: 10}, 10}, // pending credits do not count
		{ledger.Account{Flags: ledger.DebitsMustNotExceedCredits, CreditsPosted: 5, DebitsPosted: 9}, 0},
		{ledger.Account{Flags: ledger.DebitsMustNotExceedCredits, CreditsPosted: 1, Limit: ^ledger.Amount(0), DebitsPosted: 7}, ^ledger.Amount(0) - 7},
	} {
		if got := tc.a.Available(); got != tc.want {
			t.Errorf("Available of %+v = %d, want %d", tc.a, got, tc.want)
		}
	}
}
