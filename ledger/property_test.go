package ledger_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// TestApplyRandomBatches applies seeded random batches, dense in retries,
// chains, posts of unknown or finished transfers and amounts near the
// limits, and runs the harness checks after each one: the balances must
// equal what the transfer records add up to, every account must keep its
// rule, the digest must match a full recomputation, events must match the
// results. A second ledger applies the same batches and must produce the
// same outputs, as a replica would.
func TestApplyRandomBatches(t *testing.T) {
	seeds, batches := 40, 40
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			g := &generator{r: rand.New(rand.NewPCG(seed, 0x1ed9e))}
			a, b := newHarness(t), newHarness(t)
			ts := t0
			for range batches {
				ts = g.clock(ts)
				cmds := g.batch()
				oa := a.apply(ts, cmds...)
				results, events, digest := slices.Clone(oa.Results), slices.Clone(oa.Events), oa.Digest
				ob := b.apply(ts, cmds...)
				if !slices.Equal(results, ob.Results) || !slices.Equal(events, ob.Events) || digest != ob.Digest {
					t.Fatalf("replicas differ after the same batch")
				}
			}
		})
	}
}

// generator draws commands over small ID spaces so that they collide.
type generator struct{ r *rand.Rand }

const (
	genAccounts  = 8  // account IDs 1..genAccounts, plus one that never exists
	genTransfers = 48 // transfer IDs 1..genTransfers
)

// clock mostly moves forward by up to 4 s, sometimes stays or goes back.
func (g *generator) clock(ts uint64) uint64 {
	switch g.r.IntN(8) {
	case 0:
		return ts - min(ts, 3*second)
	case 1:
		return ts
	}
	return ts + g.r.Uint64N(4*second)
}

func (g *generator) batch() []ledger.Command {
	n := g.r.IntN(12)
	cmds := make([]ledger.Command, 0, n)
	for range n {
		cmds = append(cmds, g.command())
	}
	return cmds
}

func (g *generator) command() ledger.Command {
	switch k := g.r.IntN(20); {
	case k < 3:
		return g.account()
	case k < 4:
		return setLimit(g.accountID(), g.amount())
	case k < 5:
		return expire()
	}
	c := g.transfer()
	if g.r.IntN(4) == 0 {
		c.Transfer.Flags |= ledger.Linked
	}
	if g.r.IntN(40) == 0 {
		c.Transfer.Flags |= 1 << 7
	}
	return c
}

func (g *generator) account() ledger.Command {
	flags := []ledger.AccountFlags{0, ledger.DebitsMustNotExceedCredits, ledger.CreditsMustNotExceedDebits}[g.r.IntN(3)]
	currency := uint16(kes)
	if g.r.IntN(6) == 0 {
		currency = usd
	}
	kind := ledger.AccountKind(1 + g.r.IntN(4))
	return account(g.accountID(), 1+g.r.Uint64N(3), currency, kind, flags, g.amount())
}

func (g *generator) transfer() ledger.Command {
	tid := 1 + g.r.Uint64N(genTransfers)
	var c ledger.Command
	switch g.r.IntN(5) {
	case 0, 1:
		c = transfer(tid, g.accountID(), g.accountID(), g.amount())
	case 2:
		c = reserve(tid, g.accountID(), g.accountID(), g.amount(), uint32(g.r.IntN(8)))
	case 3:
		var amount ledger.Amount
		if g.r.IntN(2) == 0 {
			amount = g.amount()
		}
		c = post(tid, 1+g.r.Uint64N(genTransfers), amount)
	default:
		c = void(tid, 1+g.r.Uint64N(genTransfers))
	}
	if g.r.IntN(10) == 0 {
		c.Transfer.Currency = usd
	}
	return c
}

func (g *generator) accountID() uint64 { return 1 + g.r.Uint64N(genAccounts+1) }

// amount is mostly small, sometimes zero and sometimes near 2^64, where
// the overflow checks live.
func (g *generator) amount() ledger.Amount {
	switch g.r.IntN(10) {
	case 0:
		return 0
	case 1:
		return math.MaxUint64 - ledger.Amount(g.r.Uint64N(1000))
	case 2:
		return 1 << 63
	}
	return ledger.Amount(1 + g.r.Uint64N(1000))
}
