package pgbaseline

import (
	"math/rand/v2"

	"github.com/payswitch/payswitch/ledger"
)

// testWorkload makes the shapes of bench's workload at test size: hot and
// cold position accounts funded from a hub, transfers between them, some
// made pending and posted by the next batch. It adds "drain" accounts:
// unfunded, with a small net debit cap, so that the limit rule refuses
// transfers with exceeds_credits.
type testWorkload struct {
	hot, cold      int // position accounts; hot ones take hotPercent of the picks
	hotPercent     int // 0: every account is picked alike (uniform)
	pendingPercent int // made pending, then posted by the next batch
	drains         int // unfunded accounts with drainLimit
	drainPercent   int // transfers that debit a drain account
	// drainAmountMax 0: every drain transfer is drainAmount, which makes
	// the number refused independent of their order (a drain takes exactly
	// drainLimit/drainAmount of them), for runs with concurrent clients.
	// Otherwise amounts are random up to it and the order decides.
	drainAmountMax int
	// mixed adds, for single-client runs, idempotent retries, retries
	// with a changed field, invalid transfers, voids, partial posts and
	// posts of unknown or already resolved transfers.
	mixed bool
	seed  uint64
}

const (
	testCurrency    = 404
	testFunding     = 1 << 40
	testLimit       = 1_000_000
	drainLimit      = 1_000
	drainAmount     = 300
	testBatchesSize = 500
)

var testHub = ledger.IDFromUint64(1)

func positionID(i int) ledger.ID { return ledger.IDFromUint64(uint64(1000 + i)) }
func drainID(i int) ledger.ID    { return ledger.IDFromUint64(uint64(500 + i)) }

// setup returns the batches that create and fund the accounts.
func (w testWorkload) setup() []ledger.Batch {
	cmds := []ledger.Command{{Op: ledger.OpCreateAccount, Account: ledger.Account{
		ID: testHub, Participant: 1, Currency: testCurrency, Kind: ledger.KindHub}}}
	for i := range w.hot + w.cold {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: positionID(i), Participant: uint64(100 + i), Currency: testCurrency, Kind: ledger.KindPosition,
			Flags: ledger.DebitsMustNotExceedCredits, Limit: testLimit, UserRef: uint64(i)}})
	}
	for i := range w.drains {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: drainID(i), Participant: uint64(50 + i), Currency: testCurrency, Kind: ledger.KindPosition,
			Flags: ledger.DebitsMustNotExceedCredits, Limit: drainLimit}})
	}
	for i := range w.hot + w.cold {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: ledger.NewID(1, uint64(i+1)), DebitAccount: testHub, CreditAccount: positionID(i),
			Amount: testFunding, Currency: testCurrency, Code: 1}})
	}
	return splitBatches(cmds, 4096)
}

func splitBatches(cmds []ledger.Command, size int) []ledger.Batch {
	var out []ledger.Batch
	for start := 0; start < len(cmds); start += size {
		out = append(out, ledger.Batch{Commands: cmds[start:min(start+size, len(cmds))]})
	}
	return out
}

// testGenerator makes the timed batches.
type testGenerator struct {
	w       testWorkload
	rng     *rand.Rand
	pending []ledger.Transfer // made pending by the previous batch
	sent    []ledger.Transfer // every transfer sent, for retries
}

// batches returns n timed transfers in batches of size.
func (w testWorkload) batches(n, size int) []ledger.Batch {
	g := &testGenerator{w: w, rng: rand.New(rand.NewPCG(w.seed, w.seed^0xba5e))}
	var out []ledger.Batch
	for done := 0; done < n; done += size {
		out = append(out, ledger.Batch{Commands: g.next(min(size, n-done))})
	}
	return out
}

func (g *testGenerator) pickPosition() int {
	if g.w.hot > 0 && g.rng.IntN(100) < g.w.hotPercent {
		return g.rng.IntN(g.w.hot)
	}
	return g.w.hot + g.rng.IntN(g.w.cold)
}

func (g *testGenerator) next(n int) []ledger.Command {
	var cmds []ledger.Command
	for _, p := range g.pending {
		if len(cmds) == n {
			break
		}
		cmds = append(cmds, g.resolve(p))
	}
	g.pending = g.pending[:0]
	for len(cmds) < n {
		t := g.transfer()
		if g.w.mixed && g.rng.IntN(100) < 15 {
			t = g.oddity()
		}
		g.sent = append(g.sent, t)
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: t})
	}
	return cmds
}

// transfer makes one ordinary transfer: between two position accounts, or
// from a drain account to the hub.
func (g *testGenerator) transfer() ledger.Transfer {
	t := ledger.Transfer{ID: g.randomID(), Currency: testCurrency, Code: 1}
	pending := g.rng.IntN(100) < g.w.pendingPercent
	if g.w.drains > 0 && g.rng.IntN(100) < g.w.drainPercent {
		drain := g.rng.IntN(g.w.drains)
		t.DebitAccount, t.CreditAccount = drainID(drain), testHub
		t.Amount = drainAmount
		if g.w.drainAmountMax > 0 {
			t.Amount = ledger.Amount(1 + g.rng.IntN(g.w.drainAmountMax))
		} else {
			// Which of a drain's transfers the limit refuses depends on
			// their order; so that the outcome does not, all of one
			// drain's transfers are of one kind: pending for odd drains.
			pending = g.w.pendingPercent > 0 && drain%2 == 1
		}
	} else {
		debit, credit := g.pickPosition(), g.pickPosition()
		for credit == debit {
			credit = g.pickPosition()
		}
		t.DebitAccount, t.CreditAccount = positionID(debit), positionID(credit)
		t.Amount = ledger.Amount(1 + g.rng.IntN(100_000))
	}
	if pending {
		t.Flags, t.Timeout = ledger.Pending, 60
		g.pending = append(g.pending, t)
	}
	return t
}

// resolve posts a pending transfer of the previous batch; in a mixed run
// it sometimes voids it or posts part of it instead.
func (g *testGenerator) resolve(p ledger.Transfer) ledger.Command {
	t := ledger.Transfer{ID: g.randomID(), PendingID: p.ID, Flags: ledger.PostPending}
	if g.w.mixed {
		switch g.rng.IntN(6) {
		case 0:
			t.Flags = ledger.VoidPending
		case 1:
			t.Amount = 1 + p.Amount/2
		case 2:
			t.DebitAccount, t.CreditAccount, t.Currency = p.DebitAccount, p.CreditAccount, p.Currency
		}
	}
	g.sent = append(g.sent, t)
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: t}
}

// oddity makes a transfer the ledger must answer with something other than
// a plain ok.
func (g *testGenerator) oddity() ledger.Transfer {
	made := len(g.pending)
	t := g.transfer()
	g.pending = g.pending[:made] // t is not pending, so nothing posts it
	t.Flags, t.Timeout = 0, 0
	switch g.rng.IntN(11) {
	case 0, 1: // an identical retry
		if len(g.sent) > 0 {
			return g.sent[g.rng.IntN(len(g.sent))]
		}
	case 2: // a retry that differs in one field
		if len(g.sent) > 0 {
			r := g.sent[g.rng.IntN(len(g.sent))]
			switch g.rng.IntN(3) {
			case 0:
				r.Amount++
			case 1:
				r.UserRef = ledger.IDFromUint64(7)
			case 2:
				r.Code++
			}
			return r
		}
	case 3:
		t.Amount = 0
	case 4:
		t.DebitAccount = ledger.IDFromUint64(99)
	case 5:
		t.Currency = 840
	case 6:
		t.Timeout = 5
	case 7: // a post of a transfer that does not exist
		t = ledger.Transfer{ID: g.randomID(), PendingID: g.randomID(), Flags: ledger.PostPending}
	case 8: // a post of an earlier transfer, resolved or never pending
		if len(g.sent) > 0 {
			t = ledger.Transfer{ID: g.randomID(), PendingID: g.sent[g.rng.IntN(len(g.sent))].ID, Flags: ledger.PostPending}
		}
	case 9:
		t.Flags = ledger.Pending | ledger.VoidPending
	case 10:
		t.ID = ledger.ID{}
	}
	return t
}

func (g *testGenerator) randomID() ledger.ID {
	for {
		if id := ledger.NewID(g.rng.Uint64(), g.rng.Uint64()); id.Hi() > 1 {
			return id
		}
	}
}
