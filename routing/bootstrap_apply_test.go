package routing

import (
	"context"
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
