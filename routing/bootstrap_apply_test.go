package routing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/payswitch/payswitch/ledger"
)

// fakeSubmitMax is a replica proposer's default bound on one Submit.
const fakeSubmitMax = 4096

// fakeCluster is a Proposer over a routing State and an in-memory ledger,
// committing as the replica's state machine does: a routing entry's
// accounts are created in the ledger with it. It refuses what a replica
// refuses: a Submit beyond fakeSubmitMax, a routing entry beyond
// EntryCommandsMax.
type fakeCluster struct {
	routing *State
	ledger  *ledger.Memory
	now     uint64
	submits []int // the size of each ledger Submit
}

var _ Proposer = (*fakeCluster)(nil)

func newFakeCluster() *fakeCluster {
	return &fakeCluster{routing: NewState(), ledger: ledger.NewMemory(), now: 1_700_000_000_000_000_000}
}

func (c *fakeCluster) Account(id ledger.ID) (ledger.Account, bool, error) {
	a, ok := c.ledger.Account(id)
	return a, ok, nil
}

func (c *fakeCluster) Submit(_ context.Context, cmds []ledger.Command) ([]ledger.Result, error) {
	if len(cmds) > fakeSubmitMax {
		return nil, fmt.Errorf("replica: %d commands in one submit, at most %d", len(cmds), fakeSubmitMax)
	}
	c.submits = append(c.submits, len(cmds))
	c.now += 1e9
	out := c.ledger.Apply(&ledger.Batch{Timestamp: c.now, Commands: cmds})
	return slices.Clone(out.Results), nil
}

func (c *fakeCluster) SubmitRouting(_ context.Context, cmds []Command) ([]Result, error) {
	if len(cmds) == 0 || len(cmds) > EntryCommandsMax {
		return nil, fmt.Errorf("replica: %d routing commands; want 1 to %d", len(cmds), EntryCommandsMax)
	}
	c.now += 1e9
	out, err := c.routing.Apply(c.now, cmds, c)
	if err != nil {
		return nil, err
	}
	results := slices.Clone(out.Results)
	if len(out.Accounts) > 0 {
		lout := c.ledger.Apply(&ledger.Batch{Timestamp: c.now, Commands: slices.Clone(out.Accounts)})
		for i, r := range lout.Results {
			if r.Code != ledger.OK {
				return nil, fmt.Errorf("account %d not created: %s", i, r.Code)
			}
		}
	}
	return results, nil
}

func (c *fakeCluster) Routing() *State { return c.routing }

// planFile parses and plans a participants file.
func planFile(t *testing.T, file string) *Plan {
	t.Helper()
	b, err := ParseBootstrap([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := b.Plan([]byte(file), mustTokenizer(t, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestBootstrapManyFundings: a valid file with more fundings than one
// Submit may hold is funded, in chunks. All of them used to go in one
// Submit, which the proposer refused, on every run.
func TestBootstrapManyFundings(t *testing.T) {
	const n = fakeSubmitMax + 10
	var b strings.Builder
	b.WriteString("version: 1\nparticipants:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: %d, name: W%d, kind: wallet, connection: rest, currencies: [KES], positions: {KES: {funding: \"10.00\"}}}\n", 100_000+i, i)
	}
	plan := planFile(t, b.String())
	if len(plan.Funding) != n {
		t.Fatalf("%d fundings planned, want %d", len(plan.Funding), n)
	}
	c := newFakeCluster()
	rep, err := plan.Apply(context.Background(), c)
	if err != nil {
		t.Fatalf("apply: %v (%+v)", err, rep)
	}
	for _, size := range c.submits {
		if size > bootstrapSubmitCommandsMax {
			t.Fatalf("a Submit of %d commands, more than %d", size, bootstrapSubmitCommandsMax)
		}
	}
	for _, id := range []uint64{100_000, 100_000 + n - 1} {
		a, ok := c.ledger.Account(PositionAccount(id, kes))
		if !ok || a.CreditsPosted != 1000 {
			t.Fatalf("position of %d: %+v %v, want 10.00 funded", id, a, ok)
		}
	}
	// A second run funds nothing again.
	rep, err = plan.Apply(context.Background(), c)
	if err != nil || rep.Applied != 0 {
		t.Fatalf("second run: %+v %v", rep, err)
	}
	if a, _ := c.ledger.Account(PositionAccount(100_000, kes)); a.CreditsPosted != 1000 {
		t.Fatalf("funded twice: %+v", a)
	}
}

// operatorFile is a participants file of a bank with a capped, funded
// position, a wallet, a link to each and a mandate; extra is spliced in
// before the links (more participants).
func operatorFile(extra, extraLinks string) string {
	return `version: 1
participants:
  - {id: 10001, name: Alpha, kind: bank, connection: rest, currencies: [KES], positions: {KES: {funding: "5000.00", net_debit_cap: "2500.00"}}}
  - {id: 20001, name: Wallet, kind: wallet, connection: rest, currencies: [KES], positions: {KES: {funding: "100.00"}}}
` + extra + `links:
  - {id: "msisdn:+254700000001", participant: 10001, account: "A1", name: "Amina Odhiambo"}
  - {id: "msisdn:+254700000002", participant: 20001, account: "W2", name: "Brian Kiprop"}
` + extraLinks + `mandates:
  - {id: MND-1, payer: {participant: 20001, account: "W2"}, payee: {participant: 10001}, currency: KES, max_per_debit: "10.00", consent_ref: signed}
`
}

// TestBootstrapLeavesOperatorChanges: after a file is applied, the
// operator sets a cap to zero, the holder unlinks an identifier and the
// payer revokes its mandate, all through the commands the admin API and
// the participants' APIs propose. A bank is added to the file and it is
// applied again: the new bank is onboarded with its cap, funding and
// link; every change stands, and the report says what it left alone. The
// file's cap used to be set again on every run, and the unlinked
// identifier linked again.
func TestBootstrapLeavesOperatorChanges(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	first := planFile(t, operatorFile("", ""))
	if rep, err := first.Apply(ctx, c); err != nil || rep.Applied != 8 || len(rep.Skipped) != 0 {
		t.Fatalf("first run: %+v %v; want 1 cap, 2 participants, 2 links, 2 fundings, 1 mandate", rep, err)
	}
	alpha := PositionAccount(10001, kes)
	if a, _ := c.ledger.Account(alpha); a.Limit != 250_000 || a.CreditsPosted != 500_000 {
		t.Fatalf("Alpha's position after the first run: %+v", a)
	}
	wallet := first.Links[1].Link
	mustSubmit(t, c, ledger.Command{Op: ledger.OpSetLimit, Account: ledger.Account{ID: alpha, Limit: 0}})
	mustSubmitRouting(t, c, Command{Op: OpUnlink, Requester: 20001, Link: Link{Token: wallet.Token, Purpose: wallet.Purpose}})
	mustSubmitRouting(t, c, Command{Op: OpRevokeMandate, Requester: 20001, Mandate: Mandate{ID: "MND-1"}})

	second := planFile(t, operatorFile(
		`  - {id: 10002, name: Beta, kind: bank, connection: rest, currencies: [KES], positions: {KES: {funding: "7000.00", net_debit_cap: "3000.00"}}}
`, `  - {id: "msisdn:+254700000003", participant: 10002, account: "B3", name: "Chep Kirui"}
`))
	rep, err := second.Apply(ctx, c)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	// Applied: Beta's capped position, Beta, its link, its funding.
	if rep.Applied != 4 {
		t.Errorf("second run applied %d, want 4: %+v", rep.Applied, rep)
	}
	if a, _ := c.ledger.Account(alpha); a.Limit != 0 || a.CreditsPosted != 500_000 {
		t.Errorf("Alpha's position after the second run: %+v; the operator's cap of 0 must stand, funded once", a)
	}
	if _, ok := c.routing.Lookup(wallet.Token, wallet.Purpose); ok {
		t.Errorf("the identifier its holder unlinked is linked again")
	}
	if m, _ := c.routing.Mandate("MND-1"); m.Revoked == 0 {
		t.Errorf("the revoked mandate is active again: %+v", m)
	}
	if a, ok := c.ledger.Account(PositionAccount(10002, kes)); !ok || a.Limit != 300_000 || a.CreditsPosted != 700_000 {
		t.Errorf("Beta's position: %+v %v, want its cap and funding", a, ok)
	}
	beta := second.Links[2].Link
	if l, ok := c.routing.Lookup(beta.Token, beta.Purpose); !ok || l.Participant != 10002 {
		t.Errorf("Beta's link: %+v %v", l, ok)
	}
	for _, want := range []string{
		"net debit cap of participant 10001 KES position: account_exists_with_different_limit; left as it is",
		"participant 20001: 1 of its 1 links in the file are absent or differ",
	} {
		if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("report %q does not say %q", rep.Skipped, want)
		}
	}
	// A third run proposes nothing new.
	if rep, err := second.Apply(ctx, c); err != nil || rep.Applied != 0 {
		t.Fatalf("third run: %+v %v", rep, err)
	}
}

func mustSubmit(t *testing.T, c *fakeCluster, cmd ledger.Command) {
	t.Helper()
	res, err := c.Submit(context.Background(), []ledger.Command{cmd})
	if err != nil || res[0].Code != ledger.OK {
		t.Fatalf("%s: %v %v", cmd.Op, res, err)
	}
}

func mustSubmitRouting(t *testing.T, c *fakeCluster, cmd Command) {
	t.Helper()
	res, err := c.SubmitRouting(context.Background(), []Command{cmd})
	if err != nil || res[0].Code != CodeOK {
		t.Fatalf("%s: %v %v", cmd.Op, res, err)
	}
}

// interruptingCluster applies a routing entry and then answers an error,
// once, after skip entries: the leader lost its lead after committing.
type interruptingCluster struct {
	*fakeCluster
	skip        int
	interrupted bool
}

func (c *interruptingCluster) SubmitRouting(ctx context.Context, cmds []Command) ([]Result, error) {
	res, err := c.fakeCluster.SubmitRouting(ctx, cmds)
	if err != nil || c.interrupted {
		return res, err
	}
	if c.skip > 0 {
		c.skip--
		return res, nil
	}
	c.interrupted = true
	return nil, errors.New("leadership lost: outcome unknown")
}

// TestBootstrapInterrupted: a run cut off after onboarding a participant
// with more links than one log entry holds finishes on the next call of
// the same plan (as serve retries after losing the lead): its links, cap
// and funding are this run's still.
func TestBootstrapInterrupted(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nparticipants:\n")
	b.WriteString(`  - {id: 10001, name: Alpha, kind: bank, connection: rest, currencies: [KES], positions: {KES: {funding: "5000.00", net_debit_cap: "2500.00"}}}` + "\n")
	b.WriteString("links:\n")
	const n = EntryCommandsMax + 100
	for i := range n {
		fmt.Fprintf(&b, "  - {id: \"msisdn:+2547%08d\", participant: 10001, account: \"A%d\"}\n", i, i)
	}
	plan := planFile(t, b.String())
	c := &interruptingCluster{fakeCluster: newFakeCluster()}
	if _, err := plan.Apply(context.Background(), c); err == nil {
		t.Fatal("the interrupted run reports no error")
	}
	if _, l, _ := c.routing.Counts(); l != EntryCommandsMax-1 {
		t.Fatalf("%d links after the interruption, want the %d of the participant's entry", l, EntryCommandsMax-1)
	}
	rep, err := plan.Apply(context.Background(), c)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, l, _ := c.routing.Counts(); l != n {
		t.Fatalf("%d links after the retry, want %d (%+v)", l, n, rep)
	}
	if a, _ := c.ledger.Account(PositionAccount(10001, kes)); a.Limit != 250_000 || a.CreditsPosted != 500_000 {
		t.Fatalf("position after the retry: %+v", a)
	}
}
