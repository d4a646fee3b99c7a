package engine

import (
	"context"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// More payment paths over real TCP, each checked from the payer's answer,
// the payee's side and the ledger.

// balance is the part of a position account that a payment moves.
type balance struct {
	debitsPending, debitsPosted, creditsPending, creditsPosted ledger.Amount
}

// positions reads alpha's and beta's KES positions, the accounts a
// payment between them reserves on (routing.PositionAccount, as the
// router names them).
func positions(t *testing.T, node *replica.Node) [2]balance {
	t.Helper()
	var out [2]balance
	err := node.Local(func(s *store.Store) error {
		for i, participant := range []uint64{alpha, beta} {
			a, found, err := s.Account(routing.PositionAccount(participant, kes))
			if err != nil {
				return err
			}
			if !found {
				t.Errorf("no KES position for %d", participant)
			}
			out[i] = balance{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantVoided fails t unless the payment acquirer sent under rrn is voided
// in node's ledger.
func wantVoided(t *testing.T, node *replica.Node, acquirer uint64, rrn string) {
	t.Helper()
	if tr, ok := transferOf(t, node, acquirer, rrn); !ok || tr.Status != ledger.StatusVoided {
		t.Fatalf("payment %d/%s is %+v (found %v) in the ledger, want voided", acquirer, rrn, tr, ok)
	}
}

// TestPayeeDeclineCodePassedBack: a payee's decline reaches the payer with
// the payee's own code (not a generic 05), the reservation is voided with
// no money moved, and a resend reads the same code back from the ledger.
func TestPayeeDeclineCodePassedBack(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, 2*time.Second)
	a := dial(t, e, alpha, alphaKey, nil)
	b := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) {
		c.DeclinePercent = 100
		c.DeclineCode = iso8583.ResponseUnknownAccount
	})
	before := positions(t, leader)

	p := simulator.Payment{RRN: a.NextRRN(), PayeeParticipant: beta, PayeeAccount: "0020000099", Amount: 1_234}
	pay(t, a, p, iso8583.ResponseUnknownAccount)
	if st := b.Received(); st.Payments != 1 || st.Declined != 1 {
		t.Fatalf("the payee received %+v, want one payment, declined", st)
	}
	// The flow voids before it answers, so the ledger is final already.
	wantVoided(t, leader, alpha, p.RRN)
	if after := positions(t, leader); after != before {
		t.Fatalf("positions moved on a declined payment: %+v, before %+v", after, before)
	}

	// The void recorded the payee's code: an identical resend gets it too,
	// and does not reach the payee.
	again, err := a.Resend(context.Background(), p)
	if err != nil || again.Code != iso8583.ResponseUnknownAccount {
		t.Fatalf("resend of the declined payment: %+v %v", again, err)
	}
	if st := b.Received(); st.Payments != 1 {
		t.Fatalf("the resend reached the payee: %+v", st)
	}
}
