package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
)

// rawIDs are identifiers in the forms a participant sends them. None of
// these strings (nor their normalised forms) may reach a file.
var rawIDs = []string{"msisdn:+254711000001", "msisdn:+254711000002", "nid:KE99887766", "alias:amina.o@101", "email:amina.odhiambo@example.org"}

func testTokenizer(t *testing.T) *routing.Tokenizer {
	tk, err := routing.NewTokenizer(bytes.Repeat([]byte("s3cret!!"), 4))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func onboardTwo(ctx context.Context, t *testing.T, n *Node) {
	t.Helper()
	var cmds []routing.Command
	for _, id := range []uint64{101, 102} {
		cmds = append(cmds, routing.Command{Op: routing.OpPutParticipant, Participant: routing.Participant{
			ID: id, Name: fmt.Sprintf("Bank %d", id), Kind: routing.KindBank, Connection: routing.ConnISO8583,
			Currencies: []uint16{kes}, MACKey: bytes.Repeat([]byte{byte(id)}, 32)}})
	}
	submitRoutingOK(ctx, t, n, cmds...)
}

func submitRoutingOK(ctx context.Context, t *testing.T, n *Node, cmds ...routing.Command) {
	t.Helper()
	res, err := n.SubmitRouting(ctx, cmds)
	if err != nil {
		t.Fatalf("submit routing: %v", err)
	}
	for i, r := range res {
		if r.Code != routing.CodeOK {
			t.Fatalf("routing command %d (%s): %s", i, cmds[i].Op, r.Code)
		}
	}
}

// linkCommands links each raw identifier to an account at 101, as the edge
// would: tokenised and with a masked name.
func linkCommands(t *testing.T, tk *routing.Tokenizer) []routing.Command {
	var cmds []routing.Command
	for i, raw := range rawIDs {
		id, err := routing.ParseIdentifier(raw)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, routing.Command{Op: routing.OpLink, Requester: 101, Link: routing.Link{
			Token: tk.Token(id), Purpose: routing.PurposePayment, Type: id.Type(), Participant: 101,
			Account: fmt.Sprintf("ACC-%d", i), Name: routing.MaskName("Amina Odhiambo"), ConsentRef: "c-1", ConsentAt: 1}})
	}
	return cmds
}

// routingAgree waits until every node holds the same routing digest too.
func routingAgree(t *testing.T, nodes ...*testNode) {
	t.Helper()
	waitFor(t, convergeWait, "routing tables to agree", func() error {
		if err := agree(nodes); err != nil {
			return err
		}
		want := nodes[0].node.Routing().Digest()
		for _, tn := range nodes[1:] {
			if got := tn.node.Routing().Digest(); got != want {
				return fmt.Errorf("%s routing %s, %s has %s", nodes[0].id(), want, tn.id(), got)
			}
		}
		return nil
	})
}

// TestRoutingReplicated: onboarding, links, an unlink and a mandate reach
// every replica alike, with the participants' ledger accounts; a restart
// and a snapshot install rebuild the same tables; and no raw identifier is
// written to the Pebble files or the Raft log of any node.
func TestRoutingReplicated(t *testing.T) {
	const trailing = 16
	c := startCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold = trailing })
	leader := c.waitLeader()
	ctx := testContext(t, 60*time.Second)
	tk := testTokenizer(t)

	onboardTwo(ctx, t, leader.node)
	links := linkCommands(t, tk)
	submitRoutingOK(ctx, t, leader.node, links...)
	submitRoutingOK(ctx, t, leader.node, routing.Command{Op: routing.OpUnlink, Requester: 101, Link: routing.Link{Token: links[1].Link.Token, Purpose: routing.PurposePayment}})
	submitRoutingOK(ctx, t, leader.node, routing.Command{Op: routing.OpPutMandate, Requester: 101, Mandate: routing.Mandate{
		ID: strings.Repeat("M", 64), Payer: routing.Party{Participant: 101, Account: "ACC-0"}, Payee: routing.Party{Participant: 102},
		Currency: kes, MaxPerDebit: 5000, ValidFrom: 1, ConsentRef: "signed"}})
	// A follower refuses routing commands.
	_, err := c.followers(leader)[0].node.SubmitRouting(ctx, links[:1])
	notLeader(t, "routing on a follower", err, leader)

	// Fund 101's position from its settlement account, pay 102.
	submitOK(ctx, t, leader.node,
		ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: id(1), DebitAccount: routing.SettlementAccount(101, kes), CreditAccount: routing.PositionAccount(101, kes), Amount: 1000, Currency: kes}},
		ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: id(2), DebitAccount: routing.PositionAccount(101, kes), CreditAccount: routing.PositionAccount(102, kes), Amount: 400, Currency: kes}})
	res, err := leader.node.Submit(ctx, []ledger.Command{{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{ID: id(3), DebitAccount: routing.PositionAccount(101, kes), CreditAccount: routing.PositionAccount(102, kes), Amount: 601, Currency: kes}}})
	if err != nil || res[0].Code != ledger.ExceedsCredits {
		t.Fatalf("601 from a position holding 600: %v %v, want exceeds_credits", res, err)
	}
	routingAgree(t, c.nodes...)
	if a, _, err := leader.node.Account(ctx, routing.PositionAccount(102, kes)); err != nil || a.CreditsPosted != 400 {
		t.Fatalf("payee position %+v %v: want 400 credited (and the 601 refused by the payer's position rule)", a, err)
	}

	want := leader.node.Routing().Digest()
	if p, l, m := leader.node.Routing().Counts(); p != 2 || l != len(rawIDs)-1 || m != 1 {
		t.Fatalf("tables hold %d participants, %d links, %d mandates", p, l, m)
	}
	lookup := func(tn *testNode) error {
		got, ok := tn.node.Routing().Lookup(links[0].Link.Token, routing.PurposePayment)
		if !ok || got.Account != "ACC-0" || got.Participant != 101 {
			return fmt.Errorf("%s: lookup gives %+v %v", tn.id(), got, ok)
		}
		if _, ok := tn.node.Routing().Lookup(links[1].Link.Token, routing.PurposePayment); ok {
			return fmt.Errorf("%s: the unlinked identifier still resolves", tn.id())
		}
		return nil
	}

	// Restart a follower: the tables come back from its store.
	f := c.followers(leader)[0]
	f.stop()
	f.start()
	if got := f.node.Routing().Digest(); got != want {
		t.Fatalf("after restart %s has routing %s, want %s", f.id(), got, want)
	}
	if err := lookup(f); err != nil {
		t.Fatal(err)
	}

	// Wipe the other follower and let it install a snapshot: enough
	// entries first that the snapshot compacts the log.
	submitEach(ctx, t, leader.node, transfersBetween(50, trailing+4, routing.SettlementAccount(102, kes), routing.PositionAccount(102, kes)))
	routingAgree(t, c.nodes...)
	for _, tn := range c.running() {
		if err := tn.node.Snapshot(ctx); err != nil && !errors.Is(err, ErrNothingToSnapshot) {
			t.Fatalf("%s: snapshot: %v", tn.id(), err)
		}
	}
	leader = c.waitLeader()
	victim := c.followers(leader)[1]
	victim.stop()
	if err := os.RemoveAll(victim.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	submitEach(ctx, t, leader.node, transfersBetween(100, trailing+4, routing.SettlementAccount(102, kes), routing.PositionAccount(102, kes)))
	victim.start()
	submitRoutingOK(ctx, t, leader.node, routing.Command{Op: routing.OpSetStatus, Participant: routing.Participant{ID: 102}, Status: routing.StatusSuspended})
	routingAgree(t, c.nodes...)
	for _, tn := range c.nodes {
		if err := lookup(tn); err != nil {
			t.Fatal(err)
		}
		if p, _ := tn.node.Routing().Participant(102); p.Status != routing.StatusSuspended {
			t.Fatalf("%s: 102 is %s", tn.id(), p.Status)
		}
	}
	checkStores(t, c.nodes...)
	if n := victim.logs.count(msgRestored); n == 0 {
		t.Fatalf("%s rejoined without installing a snapshot", victim.id())
	}

	// Not one raw identifier, in any normalised spelling, in the routing
	// records (read through Pebble, so compression cannot hide them) nor
	// in any file (the Raft log is not compressed).
	var needles [][]byte
	for _, raw := range rawIDs {
		id, _ := routing.ParseIdentifier(raw)
		needles = append(needles, []byte(raw), []byte(id.Value()))
	}
	needles = append(needles, []byte("Odhiambo"))
	for _, tn := range c.nodes {
		records := 0
		err := tn.node.Local(func(s *store.Store) error {
			return s.ScanAux(func(k, v []byte) error {
				records++
				for _, n := range needles {
					if bytes.Contains(k, n) || bytes.Contains(v, n) {
						t.Errorf("%s: routing record %x holds a raw identifier or name", tn.id(), k)
					}
				}
				return nil
			})
		})
		if err != nil || records != 2+len(rawIDs)-1+1 {
			t.Fatalf("%s: %d routing records (%v)", tn.id(), records, err)
		}
	}
	c.stopAll()
	scanned := 0
	for _, tn := range c.nodes {
		err := filepath.WalkDir(tn.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned += len(data)
			for _, n := range needles {
				if bytes.Contains(data, n) {
					t.Errorf("%s holds a raw identifier or name (%d bytes of it)", path, len(n))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The scan must have seen the tables: the account names are stored.
	if scanned == 0 {
		t.Fatal("no files scanned")
	}
	found := false
	for _, tn := range c.nodes {
		_ = filepath.WalkDir(tn.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("ACC-0")) {
					found = true
				}
			}
			return nil
		})
	}
	if !found {
		t.Fatal("the scan never saw a stored account number, so it proves nothing about identifiers")
	}
}

func transfersBetween(first, count uint64, debit, credit ledger.ID) []ledger.Command {
	out := make([]ledger.Command, 0, count)
	for i := range count {
		out = append(out, ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
			ID: id(first + i), DebitAccount: debit, CreditAccount: credit, Amount: 1, Currency: kes}})
	}
	return out
}

// TestBootstrapExample applies the example participants file to a
// one-node cluster twice: the first run onboards and funds, the second
// changes nothing and proposes nothing but what answers exists.
func TestBootstrapExample(t *testing.T) {
	data, err := os.ReadFile("../../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := routing.ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := b.Plan(data, testTokenizer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 1, nil)
	leader := c.waitLeader()
	ctx := testContext(t, 30*time.Second)
	first, err := plan.Apply(ctx, leader.node)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if first.Existing != 0 || len(first.Skipped) != 0 || first.Applied == 0 {
		t.Fatalf("first run: %+v", first)
	}
	second, err := plan.Apply(ctx, leader.node)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	// Everything exists: nothing, net debit caps included, is applied
	// again (the operator may have changed them since).
	if second.Applied != 0 || second.Existing != first.Applied || len(second.Skipped) != 0 {
		t.Fatalf("second run %+v after first %+v: want everything to exist", second, first)
	}
	a, _, err := leader.node.Account(ctx, routing.PositionAccount(10001, kes))
	if err != nil || a.CreditsPosted != 500_000_000 || a.Limit != 25_000_000 {
		t.Fatalf("Alpha Bank's position %+v %v", a, err)
	}
	prog, _, err := leader.node.Account(ctx, routing.ProgramAccount(90001, kes, 2))
	if err != nil || prog.CreditsPosted != 2_500_000_000 {
		t.Fatalf("treasury program 2 %+v %v", prog, err)
	}
	if p, l, m := leader.node.Routing().Counts(); p != 4 || l != 4 || m != 1 {
		t.Fatalf("tables: %d participants, %d links, %d mandates", p, l, m)
	}
}
