package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus"
)

// More payment paths over real TCP, each checked from the payer's answer,
// the payee's side and the ledger: a payee's own decline code, a payer's
// reversal of a payment in progress, the time of a 68, and a payee's
// answer after the deadline.

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

// hasAdvice reports whether the payee b received a 0420 for the payment
// acquirer sent under rrn.
func hasAdvice(b *simulator.Bank, acquirer uint64, rrn string) bool {
	return slices.ContainsFunc(b.Received().AdviceLog, func(a simulator.Advice) bool {
		return a.RRN == rrn && a.Acquirer == acquirer
	})
}

// startEngineMetered is startEngine with the switch's metrics on a
// registry of the test's own.
func startEngineMetered(t *testing.T, node *replica.Node, tk *routing.Tokenizer, timeout time.Duration) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := Start(Config{Node: node, Tokenizer: tk, Addr: "127.0.0.1:0", DefaultTimeout: timeout, Logger: quiet, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e, reg
}

// counterValue reads an unlabelled counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s in the registry", name)
	return 0
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

// TestPayerReversesPaymentInProgress: the payer sends a 0420 while the
// payee is still thinking. The 0420 is accepted (0430 00), the payment is
// answered 05, the reservation is voided with the positions as before,
// and the payee is told with a 0420 of its own. A 0420 for a payment the
// switch never reserved is answered 25.
func TestPayerReversesPaymentInProgress(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, 3*time.Second)
	a := dial(t, e, alpha, alphaKey, nil)
	// The payee answers 00, but only after two seconds, within the
	// deadline: the reversal comes first. (The simulator then withholds
	// its answer, as the contract asks of a payee; the test does not wait
	// for it.)
	b := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DelayPercent = 100; c.Delay = 2 * time.Second })
	before := positions(t, leader)

	const amount = 4_321
	rrn := a.NextRRN()
	answered := make(chan *simulator.Result, 1)
	if err := a.PayAsync(simulator.Payment{RRN: rrn, PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: amount}, func(r *simulator.Result, err error) {
		if err != nil {
			t.Errorf("the payment that is reversed: %v", err)
		}
		answered <- r
	}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the payee to see the payment", func() bool { return b.Received().Payments == 1 })
	if tr, ok := transferOf(t, leader, alpha, rrn); !ok || tr.Status != ledger.StatusPending {
		t.Fatalf("the forwarded payment is %+v (found %v), want pending", tr, ok)
	}
	// The reservation holds the amount, so that "restored" below means
	// something.
	held := before
	held[0].debitsPending += amount
	held[1].creditsPending += amount
	if got := positions(t, leader); got != held {
		t.Fatalf("positions while the payment is in progress: %+v, want %+v", got, held)
	}

	rev, err := a.Reverse(context.Background(), rrn)
	if err != nil {
		t.Fatalf("reversal: %v", err)
	}
	if rev.Response.MTI != iso8583.MTIReversalAdviceResponse || rev.Code != iso8583.ResponseApproved {
		t.Fatalf("the payer's 0420 got %s %s (%s), want 0430 00", rev.Response.MTI, rev.Code, rev.Code.Meaning())
	}
	if r := <-answered; r == nil || r.Code != iso8583.ResponseDoNotHonour {
		t.Fatalf("the reversed payment was answered %+v, want 05", r)
	}
	wantVoided(t, leader, alpha, rrn)
	if after := positions(t, leader); after != before {
		t.Fatalf("positions after the reversal: %+v, want %+v as before the payment", after, before)
	}
	waitUntil(t, 5*time.Second, "the payee to get the reversal advice", func() bool { return hasAdvice(b, alpha, rrn) })
	waitUntil(t, 5*time.Second, "the advice to be answered", func() bool { return leader.Routing().OutboxLen() == 0 })

	// A payment refused before any reservation leaves the switch nothing
	// to reverse: its RRN is unknown to the ledger.
	refused := pay(t, a, simulator.Payment{Alias: "msisdn:+254799999999", Amount: 100}, iso8583.ResponseUnknownAccount)
	if tr, ok := transferOf(t, leader, alpha, refused.RRN); ok {
		t.Fatalf("a payment refused at routing is in the ledger: %+v", tr)
	}
	unknown, err := a.Reverse(context.Background(), refused.RRN)
	if err != nil || unknown.Code != iso8583.ResponseOriginalNotFound {
		t.Fatalf("reversal of an unknown payment: %+v %v, want 25", unknown, err)
	}
}

// TestTimeoutNotEarly: the payer gets 68 when the payee's deadline has
// passed, not before (DESIGN 6.1), and not long after either.
func TestTimeoutNotEarly(t *testing.T) {
	const deadline = time.Second
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, deadline)
	a := dial(t, e, alpha, alphaKey, nil)
	b := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DropPercent = 100 })

	// Latency runs from the call, so it includes routing and reserving
	// before the forward: it is at least the deadline if the switch waits
	// the deadline after forwarding.
	res := pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 500}, iso8583.ResponsePayeeTimedOut)
	if res.Latency < deadline || res.Latency >= deadline+2*time.Second {
		t.Fatalf("68 after %v, want between the deadline %v and %v", res.Latency, deadline, deadline+2*time.Second)
	}
	if st := b.Received(); st.Payments != 1 || st.Dropped != 1 {
		t.Fatalf("the payee received %+v, want one payment, dropped", st)
	}
}

// TestLatePayeeAnswer: a payee approves after the deadline, when the
// payer has had its 68. The approval is counted as late and ignored: the
// reservation stays voided with the positions as before, and the payee
// still gets its reversal advice.
func TestLatePayeeAnswer(t *testing.T) {
	const deadline = 800 * time.Millisecond
	const delay = 1500 * time.Millisecond
	_, leader, tk := startNodes(t, 1)
	e, reg := startEngineMetered(t, leader, tk, deadline)
	a := dial(t, e, alpha, alphaKey, nil)
	// AnswerAfterReversal: the advice reaches the payee at the deadline,
	// before its answer; without it the simulator would withhold the
	// answer and nothing late would arrive.
	b := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) {
		c.DelayPercent = 100
		c.Delay = delay
		c.AnswerAfterReversal = true
	})
	const late = "payswitch_payment_late_responses_total"
	lateBefore := counterValue(t, reg, late)
	before := positions(t, leader)

	res := pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 600}, iso8583.ResponsePayeeTimedOut)
	wantVoided(t, leader, alpha, res.RRN)
	waitUntil(t, 5*time.Second, "the payee to get the reversal advice", func() bool { return hasAdvice(b, alpha, res.RRN) })

	// The payee's approval goes out at delay after it got the payment; the
	// switch counts it as late when it arrives.
	waitUntil(t, delay+5*time.Second, "the late answer to be counted", func() bool { return counterValue(t, reg, late) >= lateBefore+1 })
	if got := counterValue(t, reg, late); got != lateBefore+1 {
		t.Fatalf("%s went from %v to %v, want one more", late, lateBefore, got)
	}
	if st := b.Received(); st.Delayed != 1 || st.LateWithheld != 0 {
		t.Fatalf("the payee received %+v, want one delayed answer, sent", st)
	}
	wantVoided(t, leader, alpha, res.RRN)
	if after := positions(t, leader); after != before {
		t.Fatalf("positions after a late approval: %+v, want %+v as before the payment", after, before)
	}
	waitUntil(t, 5*time.Second, "the advice to be answered", func() bool { return leader.Routing().OutboxLen() == 0 })
}
