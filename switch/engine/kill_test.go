package engine

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger/replica/clustertest"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/flow"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// TestLeaderKilledUnderLoad runs three real `payswitch serve` processes,
// has two simulated banks pay each other through the leader's ISO 8583
// listener, SIGKILLs the leader in the middle, and then checks on the new
// leader that every payment a bank got 00 for is posted. The banks then
// sign on at the new leader and pay again.
func TestLeaderKilledUnderLoad(t *testing.T) {
	file, err := filepath.Abs("../../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, ExtraArgs: []string{
		"--bootstrap", file, "--cluster-secret", "kill-test-cluster-secret-0123456789abcdef", "--payment-timeout", "2s", "--log-level", "warn"}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leader := c.WaitLeader(ctx)
	addr := c.Node(leader).ISO8583Addr
	var a, b *simulator.Bank
	waitUntil(t, 20*time.Second, "the banks to sign on at the leader (after its bootstrap)", func() bool {
		var err error
		if a == nil {
			a, err = simulator.Dial(ctx, simulator.BankConfig{Participant: alpha, MACKey: alphaKey, SwitchAddr: addr, Sessions: 2, Seed: 1})
			if err != nil {
				a = nil
				return false
			}
		}
		b, err = simulator.Dial(ctx, simulator.BankConfig{Participant: beta, MACKey: betaKey, SwitchAddr: addr, Sessions: 2, Seed: 2})
		return err == nil
	})
	defer a.Close()
	defer b.Close()

	var wg sync.WaitGroup
	results := make([]*simulator.LoadResult, 2)
	for i, bank := range []*simulator.Bank{a, b} {
		payee := simulator.Payee{Participant: beta, Account: "B"}
		if i == 1 {
			payee = simulator.Payee{Participant: alpha, Account: "A"}
		}
		wg.Go(func() {
			results[i], _ = bank.RunLoad(ctx, simulator.LoadConfig{Rate: 200, Duration: 4 * time.Second, Payees: []simulator.Payee{payee}, Timeout: 5 * time.Second})
		})
	}
	time.Sleep(1500 * time.Millisecond)
	c.Kill(leader)
	wg.Wait()

	approved := 0
	for i, r := range results {
		if r == nil {
			t.Fatalf("bank %d: no load result", i)
		}
		acquirer := uint64(alpha)
		if i == 1 {
			acquirer = beta
		}
		for _, rrn := range r.Approved {
			id := flow.PaymentTransferID(acquirer, rrn.String()).String()
			tr, err := c.Client().Transfer(ctx, id)
			if err != nil || tr.Status != "posted" {
				t.Fatalf("payment %d/%s was approved before the kill but is %+v (%v) after it", acquirer, rrn, tr, err)
			}
			approved++
		}
		t.Logf("bank %d: sent %d, answered %d (%v), failed %d, timed out %d", i, r.Sent, r.Answered, r.ByCode, r.Failed, r.TimedOut)
	}
	if approved < 100 {
		t.Fatalf("only %d payments were approved before the kill: the test proves little", approved)
	}

	// The new leader takes the banks.
	newLeader := c.WaitLeader(ctx)
	if newLeader == leader {
		t.Fatal("the killed node leads")
	}
	addr = c.Node(newLeader).ISO8583Addr
	a2, err := simulator.Dial(ctx, simulator.BankConfig{Participant: alpha, MACKey: alphaKey, SwitchAddr: addr, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	b2, err := simulator.Dial(ctx, simulator.BankConfig{Participant: beta, MACKey: betaKey, SwitchAddr: addr, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	res, err := a2.Pay(ctx, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B", Amount: 100})
	if err != nil || res.Code != iso8583.ResponseApproved {
		t.Fatalf("a payment after the failover: %+v %v", res, err)
	}
	// The killed node comes back and catches up with what happened since.
	c.Restart(leader)
	c.WaitConverged(ctx)
}
