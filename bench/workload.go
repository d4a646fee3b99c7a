package bench

import (
	"math/rand/v2"

	"github.com/payswitch/payswitch/ledger"
)

// Workload describes the accounts and transfers a ledger benchmark drives:
// a switch-shaped account set where a few participants' position accounts
// take most of the traffic, as a handful of big banks do on a real switch,
// and many small participants share the rest.
type Workload struct {
	Currency       uint16 // ISO 4217 numeric; default 404 (KES)
	HotAccounts    int    // big participants' position accounts; default 8
	ColdAccounts   int    // small participants' position accounts; default 100,000
	HotPercent     int    // share of debits and credits that hit a hot account; default 80
	PendingPercent int    // share of transfers made as pending then posted in the next batch; default 0
	// Uniform, when set, picks every position account alike, hot ones
	// included, and HotPercent has no effect: no account takes more than
	// its share. (HotPercent 0 cannot say this: it means the default.)
	Uniform bool
	Seed    uint64
}

func (w Workload) withDefaults() Workload {
	if w.Currency == 0 {
		w.Currency = 404
	}
	if w.HotAccounts == 0 {
		w.HotAccounts = 8
	}
	if w.ColdAccounts == 0 {
		w.ColdAccounts = 100_000
	}
	if w.HotPercent == 0 {
		w.HotPercent = 80
	}
	return w
}

// hubAccount funds every position account at set-up.
var hubAccount = ledger.IDFromUint64(1)

// fundingPerAccount is each position account's prefunding in minor units:
// large enough that no benchmark transfer is refused for liquidity (a hot
// account of a 10-million-transfer run is debited about 5*10^10), small
// enough that the hub's debits for 16 million accounts fit in 64 bits.
const fundingPerAccount = 1 << 40

// accountID numbers the position accounts from 1000 up; hot ones first.
func accountID(i int) ledger.ID { return ledger.IDFromUint64(uint64(1000 + i)) }

// setupBatches returns the batches that create the hub and every position
// account and fund them. They are applied before timing starts.
func (w Workload) setupBatches(batchSize int) []ledger.Batch {
	total := w.HotAccounts + w.ColdAccounts
	var cmds []ledger.Command
	cmds = append(cmds, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
		ID: hubAccount, Participant: 1, Currency: w.Currency, Kind: ledger.KindHub}})
	for i := range total {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateAccount, Account: ledger.Account{
			ID: accountID(i), Participant: uint64(100 + i), Currency: w.Currency, Kind: ledger.KindPosition,
			Flags: ledger.DebitsMustNotExceedCredits, Limit: 1_000_000}})
	}
	for i := range total {
		cmds = append(cmds, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: ledger.NewID(1, uint64(i+1)), DebitAccount: hubAccount, CreditAccount: accountID(i),
			Amount: fundingPerAccount, Currency: w.Currency, Code: 1}})
	}
	var batches []ledger.Batch
	for start := 0; start < len(cmds); start += batchSize {
		end := min(start+batchSize, len(cmds))
		batches = append(batches, ledger.Batch{Commands: cmds[start:end]})
	}
	return batches
}

// generator makes the timed transfer batches, one at a time, so that the
// workload itself takes no memory that grows with the number of transfers.
type generator struct {
	w       Workload
	rng     *rand.Rand
	pending []ledger.ID // pending transfers of the previous batch, posted by the next
}

func newGenerator(w Workload) *generator {
	return &generator{w: w, rng: rand.New(rand.NewPCG(w.Seed, w.Seed^0x5eed))}
}

func (g *generator) pickAccount() int {
	if g.w.Uniform {
		return g.rng.IntN(g.w.HotAccounts + g.w.ColdAccounts)
	}
	if g.rng.IntN(100) < g.w.HotPercent {
		return g.rng.IntN(g.w.HotAccounts)
	}
	return g.w.HotAccounts + g.rng.IntN(g.w.ColdAccounts)
}

// next fills b with n transfer commands. Transfer IDs are random 128-bit
// numbers, as UUIDs from many clients would be: the worst case for key
// locality.
func (g *generator) next(b *ledger.Batch, n int) {
	b.Commands = b.Commands[:0]
	for _, id := range g.pending {
		if len(b.Commands) == n {
			break
		}
		b.Commands = append(b.Commands, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: g.randomID(), PendingID: id, Flags: ledger.PostPending}})
	}
	g.pending = g.pending[:0]
	for len(b.Commands) < n {
		debit := g.pickAccount()
		credit := g.pickAccount()
		for credit == debit {
			credit = g.pickAccount()
		}
		t := ledger.Transfer{
			ID: g.randomID(), DebitAccount: accountID(debit), CreditAccount: accountID(credit),
			Amount: ledger.Amount(1 + g.rng.IntN(100_000)), Currency: g.w.Currency, Code: 1,
		}
		if g.rng.IntN(100) < g.w.PendingPercent {
			t.Flags, t.Timeout = ledger.Pending, 60
			g.pending = append(g.pending, t.ID)
		}
		b.Commands = append(b.Commands, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: t})
	}
}

func (g *generator) randomID() ledger.ID {
	for {
		id := ledger.NewID(g.rng.Uint64(), g.rng.Uint64())
		if id.Hi() > 1 { // keep clear of the set-up IDs
			return id
		}
	}
}
