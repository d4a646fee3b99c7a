package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
// listener (each declines a tenth of what it is paid), SIGKILLs the leader
// in the middle, and then checks on the new leader that the ledger agrees
// with every answer the banks got: a payment answered 00 is posted, one
// answered anything else is not (and is not left pending). The payments
// whose answer was lost with the killed leader's sessions are resent, with
// the same RRN and content, at the new leader, and each must end in a
// definite state that its answer reports: 00 if and only if posted. The
// banks then pay again at the new leader.
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
			a, err = simulator.Dial(ctx, simulator.BankConfig{Participant: alpha, MACKey: alphaKey, SwitchAddr: addr, Sessions: 2, Seed: 1, DeclinePercent: 10, ResponseTimeout: 5 * time.Second})
			if err != nil {
				a = nil
				return false
			}
		}
		b, err = simulator.Dial(ctx, simulator.BankConfig{Participant: beta, MACKey: betaKey, SwitchAddr: addr, Sessions: 2, Seed: 2, DeclinePercent: 10, ResponseTimeout: 5 * time.Second})
		return err == nil
	})
	defer a.Close()
	defer b.Close()

	var wg sync.WaitGroup
	loads := make([][]*sentPayment, 2)
	loadErrs := make([]error, 2)
	for i, bank := range []*simulator.Bank{a, b} {
		payee := simulator.Payee{Participant: beta, Account: "B"}
		if i == 1 {
			payee = simulator.Payee{Participant: alpha, Account: "A"}
		}
		wg.Go(func() { loads[i], loadErrs[i] = payUntilGone(ctx, bank, payee, 200, 4*time.Second) })
	}
	time.Sleep(1500 * time.Millisecond)
	c.Kill(leader)
	wg.Wait()

	acquirers := [2]uint64{alpha, beta}
	approved, refused := 0, 0
	var lost [2][]*sentPayment // no answer: sent to the killed leader, answer lost
	for i, load := range loads {
		if loadErrs[i] != nil {
			t.Fatalf("bank %d: %v", i, loadErrs[i])
		}
		byCode := map[iso8583.ResponseCode]int{}
		for _, sp := range load {
			if sp.err != nil {
				lost[i] = append(lost[i], sp)
				continue
			}
			byCode[sp.res.Code]++
			status := settledStatus(ctx, t, c, acquirers[i], sp.payment.RRN)
			if sp.res.Code == iso8583.ResponseApproved {
				if status != "posted" {
					t.Fatalf("payment %d/%s was approved before the kill but is %s after it", acquirers[i], sp.payment.RRN, status)
				}
				approved++
				continue
			}
			if status == "posted" {
				t.Fatalf("payment %d/%s was answered %s before the kill but is posted", acquirers[i], sp.payment.RRN, sp.res.Code)
			}
			refused++
		}
		t.Logf("bank %d: sent %d, answered %v, no answer %d", i, len(load), byCode, len(lost[i]))
	}
	if approved < 100 || refused == 0 {
		t.Fatalf("%d payments were approved and %d refused before the kill: the test proves little", approved, refused)
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

	// Each payment whose answer was lost, sent again with the same RRN and
	// content (Bank.Resend knows only the payments of its own Bank, whose
	// sessions went with the killed leader; the switch tells a resend by
	// 32 + 37 and the content, not by the times), ends definite: its
	// answer says whether it is posted.
	for i, bank := range []*simulator.Bank{a2, b2} {
		outcomes := map[iso8583.ResponseCode]int{}
		for _, sp := range lost[i] {
			res := resendUntilDefinite(ctx, t, bank, sp.payment)
			status := settledStatus(ctx, t, c, acquirers[i], sp.payment.RRN)
			if (res.Code == iso8583.ResponseApproved) != (status == "posted") {
				t.Fatalf("payment %d/%s, unanswered at the kill, is %s in the ledger but its resend was answered %s (%s)",
					acquirers[i], sp.payment.RRN, status, res.Code, res.Code.Meaning())
			}
			outcomes[res.Code]++
		}
		t.Logf("bank %d: the resends of the %d payments without an answer: %v", i, len(lost[i]), outcomes)
	}

	res, err := a2.Pay(ctx, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B", Amount: 100})
	if err != nil || res.Code != iso8583.ResponseApproved {
		t.Fatalf("a payment after the failover: %+v %v", res, err)
	}
	// The killed node comes back and catches up with what happened since.
	c.Restart(leader)
	c.WaitConverged(ctx)
}

// sentPayment is one payment of payUntilGone: as sent, and its answer, or
// the error that ended the wait for it (no answer).
type sentPayment struct {
	payment simulator.Payment
	res     *simulator.Result
	err     error
}

// payUntilGone sends push payments from bank to payee at rate, open loop,
// until d has passed or the bank has no session left (the switch is
// gone), and returns the payments sent once each has its outcome. The
// amounts differ from one payment to the next, so that a resend with the
// wrong content would be caught (94).
func payUntilGone(ctx context.Context, bank *simulator.Bank, payee simulator.Payee, rate float64, d time.Duration) ([]*sentPayment, error) {
	var sent []*sentPayment
	var outcomes sync.WaitGroup
	defer outcomes.Wait()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.After(d)
	for i := uint64(0); ; i++ {
		select {
		case <-ctx.Done():
			return sent, ctx.Err()
		case <-end:
			return sent, nil
		case <-tick.C:
		}
		sp := &sentPayment{payment: simulator.Payment{RRN: bank.NextRRN(), PayeeParticipant: payee.Participant,
			PayeeAccount: payee.Account, Amount: 100 + i%9_900}}
		outcomes.Add(1)
		err := bank.PayAsync(sp.payment, func(r *simulator.Result, err error) {
			sp.res, sp.err = r, err
			outcomes.Done()
		})
		switch {
		case err == nil:
			sent = append(sent, sp)
		case errors.Is(err, simulator.ErrNoSession), errors.Is(err, simulator.ErrClosed):
			outcomes.Done() // not sent: no session was open
			return sent, nil
		default:
			// It may have gone out before its session failed: count it
			// as sent without an answer.
			outcomes.Done()
			sp.err = err
			return append(sent, sp), nil
		}
	}
}

// ledgerStatus reads the status of the payment's pending transfer through
// the cluster's leader: "posted", "pending", "voided", "expired",
// "rejected", or "absent" when the ledger has no such transfer.
func ledgerStatus(ctx context.Context, t *testing.T, c *clustertest.Cluster, acquirer uint64, rrn string) string {
	t.Helper()
	tr, err := c.Client().Transfer(ctx, flow.PaymentTransferID(acquirer, rrn).String())
	var p *clustertest.Problem
	switch {
	case errors.As(err, &p) && p.Status == http.StatusNotFound:
		return "absent"
	case err != nil:
		t.Fatalf("read payment %d/%s: %v", acquirer, rrn, err)
	}
	return tr.Status
}

// settledStatus is ledgerStatus once the payment is no longer pending: a
// reservation the killed leader left behind is voided by the new leader's
// recovery, or expires.
func settledStatus(ctx context.Context, t *testing.T, c *clustertest.Cluster, acquirer uint64, rrn string) string {
	t.Helper()
	var status string
	waitUntil(t, 15*time.Second, fmt.Sprintf("payment %d/%s to settle", acquirer, rrn), func() bool {
		status = ledgerStatus(ctx, t, c, acquirer, rrn)
		return status != "pending"
	})
	return status
}

// resendUntilDefinite sends p again until the answer is other than 91,
// which a payment still pending from the old leader gets until the new
// leader's recovery voids it.
func resendUntilDefinite(ctx context.Context, t *testing.T, bank *simulator.Bank, p simulator.Payment) *simulator.Result {
	t.Helper()
	var res *simulator.Result
	waitUntil(t, 15*time.Second, fmt.Sprintf("a definite answer to the resend of %s", p.RRN), func() bool {
		var err error
		if res, err = bank.Pay(ctx, p); err != nil {
			t.Fatalf("resend %s: %v", p.RRN, err)
		}
		return res.Code != iso8583.ResponseUnavailable
	})
	return res
}
