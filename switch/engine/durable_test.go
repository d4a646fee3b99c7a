package engine

import (
	"context"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// Store-and-forward of reversal advices (DESIGN.md section 5, step 5):
// an advice owed to a payee lives in the replicated outbox, so it reaches
// the payee after the node that recorded it restarts, and after another
// node takes over from it.

// oweAdvice has a silent payee time a payment out on e, which runs on
// node: the payer gets 68 and node's outbox holds the payee's advice. The
// payee leaves before the deadline, so that the advice cannot reach it. It
// returns the payment's RRN.
func oweAdvice(t *testing.T, e *Engine, node *replica.Node, payer *simulator.Bank) string {
	t.Helper()
	silent := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DropPercent = 100 })
	answered := make(chan *simulator.Result, 1)
	if err := payer.PayAsync(simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 400}, func(r *simulator.Result, err error) {
		if err != nil {
			t.Errorf("the payment that times out: %v", err)
		}
		answered <- r
	}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the payee to see the payment", func() bool { return silent.Received().Payments == 1 })
	_ = silent.Close()
	timedOut := <-answered
	if timedOut == nil || timedOut.Code != iso8583.ResponsePayeeTimedOut {
		t.Fatalf("the payment to a silent payee: %+v", timedOut)
	}
	waitUntil(t, 5*time.Second, "the advice to be owed", func() bool { return node.Routing().OutboxLen() == 1 })
	if tr, ok := transferOf(t, node, alpha, timedOut.RRN); !ok || tr.Status != ledger.StatusVoided {
		t.Fatalf("the timed-out payment is %+v", tr)
	}
	if st := silent.Received(); st.Advices != 0 {
		t.Fatalf("the payee got the advice before it left: %+v", st.AdviceLog)
	}
	return timedOut.RRN
}

// stopEngine stops e; nothing is in progress, so it drains at once.
func stopEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("stop the engine: %v", err)
	}
}

// adviceDelivered waits until the payee's advice for rrn has been answered
// (node's outbox is empty) and checks that the payee got it.
func adviceDelivered(t *testing.T, node *replica.Node, payee *simulator.Bank, rrn string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "the advice to be answered", func() bool { return node.Routing().OutboxLen() == 0 })
	st := payee.Received()
	if st.Advices == 0 || st.AdviceLog[0].RRN != rrn || st.AdviceLog[0].Acquirer != alpha {
		t.Fatalf("the payee got advices %+v, want one for %d/%s", st.AdviceLog, alpha, rrn)
	}
}

// TestAdviceSurvivesRestart: a one-node switch owes a payee an advice,
// the node stops, and it opens again on the same directory. The outbox
// is still there, and the advice reaches the payee when it signs on to
// the restarted switch.
func TestAdviceSurvivesRestart(t *testing.T) {
	tns, _, tk := startTestNodes(t, 1)
	tn := tns[0]
	e := startEngine(t, tn.node, tk, 700*time.Millisecond)
	a := dial(t, e, alpha, alphaKey, nil)
	rrn := oweAdvice(t, e, tn.node, a)

	_ = a.Close()
	stopEngine(t, e)
	tn.stop()
	tn.start()
	waitUntil(t, 10*time.Second, "the reopened node to lead", tn.node.IsLeader)
	if n := tn.node.Routing().OutboxLen(); n != 1 {
		t.Fatalf("the reopened node's outbox holds %d advices, want the one owed before the restart", n)
	}
	if tr, ok := transferOf(t, tn.node, alpha, rrn); !ok || tr.Status != ledger.StatusVoided {
		t.Fatalf("after the restart the timed-out payment is %+v", tr)
	}

	e2 := startEngine(t, tn.node, tk, 700*time.Millisecond)
	back := dial(t, e2, beta, betaKey, nil)
	adviceDelivered(t, tn.node, back, rrn)
}

// TestAdviceOfOldLeaderDeliveredByNew: the leader owes a payee an advice
// (recorded by the leader's own flow at the payment's deadline, unlike
// TestAdviceSurvivesLeaderChange, where the new leader's recovery records
// it) and then stops. The advice is in the new leader's outbox before
// the new leader runs a flow, and the new leader delivers it when the
// payee signs on there.
func TestAdviceOfOldLeaderDeliveredByNew(t *testing.T) {
	tns, leader, tk := startTestNodes(t, 3)
	e := startEngine(t, leader, tk, 1500*time.Millisecond)
	a := dial(t, e, alpha, alphaKey, nil)
	rrn := oweAdvice(t, e, leader, a)

	_ = a.Close()
	stopEngine(t, e)
	var next *replica.Node
	for _, tn := range tns {
		if tn.node == leader {
			tn.stop()
		}
	}
	waitUntil(t, 20*time.Second, "a new leader", func() bool {
		for _, tn := range tns {
			if tn.node != leader && tn.node.IsLeader() {
				next = tn.node
				return true
			}
		}
		return false
	})
	// Before any flow runs on the new leader: the advice came with the
	// replicated state, and the payment is void, so no recovery will owe
	// it again.
	if n := next.Routing().OutboxLen(); n != 1 {
		t.Fatalf("the new leader's outbox holds %d advices, want the one the old leader recorded", n)
	}
	if tr, ok := transferOf(t, next, alpha, rrn); !ok || tr.Status != ledger.StatusVoided {
		t.Fatalf("on the new leader the timed-out payment is %+v", tr)
	}

	e2 := startEngine(t, next, tk, 1500*time.Millisecond)
	back := dial(t, e2, beta, betaKey, nil)
	adviceDelivered(t, next, back, rrn)
}
