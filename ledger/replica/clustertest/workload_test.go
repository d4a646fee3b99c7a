package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/internal/invariant"
)

// The workload the cluster tests share: a hub account (model index 0) and
// a few position accounts that must not overdraw, all in one currency;
// transfers between them, each with a unique ID and retried with that ID
// until the cluster gives a definite answer.

const (
	testCurrency = "KES"
	// opTimeoutMax bounds one logical operation with all its retries. A
	// single failure heals in about a second; an operation still without
	// an answer after this is reported, not retried forever.
	opTimeoutMax = 15 * time.Second
	// codeExceedsCredits is the rejection the workload provokes.
	codeExceedsCredits = "exceeds_credits"
)

// book names the accounts of a test by model index.
type book struct {
	ids []string
}

func newBook(positions int) book {
	invariant.Always(positions >= 2 && positions < modelAccountsMax, "book of %d positions: want 2 to %d", positions, modelAccountsMax-1)
	b := book{ids: []string{"1000"}}
	for i := 1; i <= positions; i++ {
		b.ids = append(b.ids, strconv.Itoa(1000+i))
	}
	return b
}

// setup creates the accounts and funds each position account from the hub;
// it returns the funding transfers' outcomes.
func (b book) setup(ctx context.Context, t *testing.T, client *Client, funding uint64) []outcome {
	t.Helper()
	cmds := []Command{{Op: "create_account", Account: &AccountSpec{
		ID: b.ids[0], Participant: "1", Currency: testCurrency, Kind: "hub"}}}
	for i := 1; i < len(b.ids); i++ {
		cmds = append(cmds, Command{Op: "create_account", Account: &AccountSpec{
			ID: b.ids[i], Participant: strconv.Itoa(10000 + i), Currency: testCurrency, Kind: "position",
			Flags: []string{"debits_must_not_exceed_credits"}, Limit: FormatMinor(0, testCurrency)}})
	}
	results, err := client.Submit(ctx, cmds)
	if err != nil {
		t.Fatalf("create accounts: %v", err)
	}
	for i, r := range results {
		if r.Code != "ok" && r.Code != "account_exists" {
			t.Fatalf("create account %s: %s", cmds[i].Account.ID, r.Code)
		}
	}
	var funded []outcome
	for i := 1; i < len(b.ids); i++ {
		in := linInput{kind: opTransfer, id: strconv.Itoa(900 + i), debit: 0, credit: i, amount: funding}
		code, err := b.transfer(ctx, client, in)
		if err != nil || code != "ok" {
			t.Fatalf("fund account %s: %q %v", b.ids[i], code, err)
		}
		funded = append(funded, outcome{in: in, code: code})
	}
	return funded
}

// transfer submits one transfer, retrying its ID until a definite answer,
// and returns the code with "exists" (a retry of an applied transfer) read
// as "ok".
func (b book) transfer(ctx context.Context, client *Client, in linInput) (string, error) {
	cmd := Command{Op: "create_transfer", Transfer: &TransferSpec{
		ID: in.id, DebitAccount: b.ids[in.debit], CreditAccount: b.ids[in.credit],
		Amount: FormatMinor(in.amount, testCurrency), Currency: testCurrency, Code: 1}}
	results, err := client.Submit(ctx, []Command{cmd})
	if err != nil {
		return "", err
	}
	if results[0].Code == "exists" {
		return "ok", nil
	}
	return results[0].Code, nil
}

// balances reads every account of the book linearizably.
func (b book) balances(ctx context.Context, client *Client) (balances, error) {
	var s balances
	for i, id := range b.ids {
		a, err := client.Account(ctx, id)
		if err != nil {
			return s, fmt.Errorf("account %s: %w", id, err)
		}
		if s[i].debits, s[i].credits, err = a.Posted(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// outcome is one logical operation as a client saw it: from the first
// send to the definite answer, whatever happened between.
type outcome struct {
	client    int
	in        linInput
	code      string // transfers: "ok", a rejection code, "" without answer
	out       linOutput
	err       error
	call, ret time.Duration // since the load started
}

// loadPlan shapes a closed-loop load of concurrent clients.
type loadPlan struct {
	clients     int
	opsMax      int           // per client
	duration    time.Duration // no new operation starts after this
	pause       time.Duration // between two operations of a client, ± half
	readPercent int           // share of linearizable balance reads
	amountMax   uint64        // transfer amounts are 1..amountMax minor units
	hugePercent int           // share of transfers far beyond any balance
	fromHubPct  int           // share of transfers debiting the hub
	idBase      uint64
	seed        uint64
}

// drive runs the plan against the book and returns every operation's
// outcome, grouped by client and in time order within a client.
func (b book) drive(ctx context.Context, client *Client, plan loadPlan, start time.Time) []outcome {
	var mu sync.Mutex
	var all []outcome
	var wg sync.WaitGroup
	for k := range plan.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := b.runClient(ctx, client, plan, k, start)
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

func (b book) runClient(ctx context.Context, client *Client, plan loadPlan, k int, start time.Time) []outcome {
	rng := rand.New(rand.NewPCG(plan.seed, uint64(k)))
	positions := len(b.ids) - 1
	var out []outcome
	for i := 0; i < plan.opsMax && time.Since(start) < plan.duration && ctx.Err() == nil; i++ {
		var o outcome
		o.client = k
		if rng.IntN(100) < plan.readPercent {
			o.in = linInput{kind: opRead, account: rng.IntN(len(b.ids))}
		} else {
			o.in = linInput{kind: opTransfer, id: strconv.FormatUint(plan.idBase+uint64(k)*1_000_000+uint64(i), 10),
				debit: 1 + rng.IntN(positions), amount: 1 + rng.Uint64N(plan.amountMax)}
			offset := 1 + rng.IntN(positions-1) // never the debit account
			o.in.credit = 1 + (o.in.debit-1+offset)%positions
			if rng.IntN(100) < plan.fromHubPct {
				o.in.debit = 0
			}
			if rng.IntN(100) < plan.hugePercent {
				o.in.amount = 1 << 50
			}
		}
		o = b.run(ctx, client, o, start)
		out = append(out, o)
		if errors.Is(o.err, context.Canceled) {
			break
		}
		pause := plan.pause/2 + time.Duration(rng.Int64N(int64(plan.pause)+1))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
	}
	return out
}

// run performs one operation with its retries under opTimeoutMax.
func (b book) run(ctx context.Context, client *Client, o outcome, start time.Time) outcome {
	opCtx, cancel := context.WithTimeout(ctx, opTimeoutMax)
	defer cancel()
	o.call = time.Since(start)
	switch o.in.kind {
	case opTransfer:
		o.code, o.err = b.transfer(opCtx, client, o.in)
		o.out = linOutput{code: o.code, unknown: o.err != nil}
	case opRead:
		var a Account
		a, o.err = client.Account(opCtx, b.ids[o.in.account])
		if o.err == nil {
			o.out.debits, o.out.credits, o.err = a.Posted()
		}
	}
	o.ret = time.Since(start)
	return o
}

// expectedBalances sums the acknowledged transfers per account.
func expectedBalances(outcomes []outcome) balances {
	var s balances
	for _, o := range outcomes {
		if o.in.kind == opTransfer && o.err == nil && o.code == "ok" {
			s[o.in.debit].debits += o.in.amount
			s[o.in.credit].credits += o.in.amount
		}
	}
	return s
}

func fmtCounts(ok, rejected, reads, failed int, slowest time.Duration) string {
	return fmt.Sprintf("%d posted, %d rejected, %d reads, %d without answer; slowest operation %v",
		ok, rejected, reads, failed, slowest)
}
