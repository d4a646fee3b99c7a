package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// TestLeadershipLossClosesSessions: a real node that stops leading (here
// it removes itself from the cluster) closes its banks' sessions, so that
// they fail over, and refuses new sign-ons with 91; the banks sign on at
// the new leader and pay there.
func TestLeadershipLossClosesSessions(t *testing.T) {
	nodes, leader, tk := startNodes(t, 3)
	e := startEngine(t, leader, tk, time.Second)
	a := dial(t, e, alpha, alphaKey, nil)
	dial(t, e, beta, betaKey, nil)
	pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B1", Amount: 100}, iso8583.ResponseApproved)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.RemoveServer(ctx, leader.ID()); err != nil && !errors.Is(err, replica.ErrUnknownOutcome) {
		t.Fatalf("the leader removes itself: %v", err)
	}
	waitUntil(t, 5*time.Second, "the old leader to close the bank's sessions", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := a.Echo(ctx)
		return errors.Is(err, simulator.ErrSessionClosed) || errors.Is(err, simulator.ErrNoSession)
	})
	_, err := simulator.Dial(context.Background(), simulator.BankConfig{Participant: alpha, MACKey: alphaKey, SwitchAddr: e.Addr()})
	var so *simulator.SignOnError
	if !errors.As(err, &so) || so.Code != iso8583.ResponseUnavailable {
		t.Fatalf("sign-on at the node that lost the leadership: %v", err)
	}

	var next *replica.Node
	waitUntil(t, 10*time.Second, "a new leader", func() bool {
		for _, n := range nodes {
			if n != leader && n.IsLeader() {
				next = n
				return true
			}
		}
		return false
	})
	ne := startEngine(t, next, tk, time.Second)
	a2 := dial(t, ne, alpha, alphaKey, nil)
	dial(t, ne, beta, betaKey, nil)
	pay(t, a2, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B1", Amount: 200}, iso8583.ResponseApproved)
}
