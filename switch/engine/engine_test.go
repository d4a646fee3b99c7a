package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/simulator"
	"github.com/payswitch/payswitch/switch/flow"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// End to end over real TCP on loopback: simulated banks (the simulator
// package, speaking the contract of docs/iso8583.md) → the gnet front end
// → the flow → the replicated ledger on Pebble, with the example
// participants file.

const (
	alpha = 10001
	beta  = 10002
	kes   = 404
)

var (
	alphaKey = bytes.Repeat([]byte{0x01}, 32)
	betaKey  = bytes.Repeat([]byte{0x02}, 32)
	quiet    = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// startNodes runs n in-process replicas that bootstrap one cluster and
// returns them once one leads, with the example participants applied.
func startNodes(t *testing.T, n int) ([]*replica.Node, *replica.Node, *routing.Tokenizer) {
	t.Helper()
	nodes, leader, tk, _ := startStoppableNodes(t, n)
	return nodes, leader, tk
}

// startStoppableNodes is startNodes that also returns a function to stop
// each node (it waits for the node's Run to return).
func startStoppableNodes(t *testing.T, n int) ([]*replica.Node, *replica.Node, *routing.Tokenizer, []func()) {
	t.Helper()
	tns, leader, tk := startTestNodes(t, n)
	var nodes []*replica.Node
	var stops []func()
	for _, tn := range tns {
		nodes = append(nodes, tn.node)
		stops = append(stops, tn.stop)
	}
	return nodes, leader, tk, stops
}

// testNode is one in-process replica that keeps its Config, so that it
// can be stopped and opened again on the same directory and Raft address.
type testNode struct {
	t    *testing.T
	cfg  replica.Config
	node *replica.Node // the node of the latest start
	stop func()        // stops it and waits for its Run to return
}

// start opens the node's directory and runs the node until stop or the
// end of the test.
func (tn *testNode) start() {
	tn.t.Helper()
	node, err := replica.Open(tn.cfg)
	if err != nil {
		tn.t.Fatalf("%s: open: %v", tn.cfg.NodeID, err)
	}
	// A port picked by the system (a one-node cluster) is kept, so that
	// a reopened node listens where its Raft configuration says it does.
	if _, port, err := net.SplitHostPort(tn.cfg.RaftAddr); err == nil && port == "0" {
		tn.cfg.RaftAddr = node.RaftAddr()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	var once sync.Once
	tn.stop = func() { once.Do(func() { cancel(); <-done }) }
	tn.t.Cleanup(tn.stop)
	tn.node = node
}

// startTestNodes is startStoppableNodes with the nodes' handles, for tests
// that start a node again.
func startTestNodes(t *testing.T, n int) ([]*testNode, *replica.Node, *routing.Tokenizer) {
	t.Helper()
	var peers []replica.Peer
	var lns []net.Listener
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, replica.Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: ln.Addr().String()})
	}
	for _, ln := range lns {
		ln.Close()
	}
	if n == 1 {
		peers[0].RaftAddr = "127.0.0.1:0"
	}
	var tns []*testNode
	for i := range n {
		cfg := replica.Config{NodeID: peers[i].ID, Dir: filepath.Join(t.TempDir(), peers[i].ID), RaftAddr: peers[i].RaftAddr, Logger: quiet}
		if n > 1 {
			cfg.Peers = peers
		}
		tn := &testNode{t: t, cfg: cfg}
		tn.start()
		tns = append(tns, tn)
	}
	var leader *replica.Node
	waitUntil(t, 20*time.Second, "a leader", func() bool {
		for _, tn := range tns {
			if tn.node.IsLeader() {
				leader = tn.node
				return true
			}
		}
		return false
	})
	tk, _ := routing.NewTokenizer(bytes.Repeat([]byte("e"), 32))
	data, err := os.ReadFile("../../deploy/examples/participants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := routing.ParseBootstrap(data)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := b.Plan(data, tk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Apply(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	return tns, leader, tk
}

func startEngine(t *testing.T, node *replica.Node, tk *routing.Tokenizer, timeout time.Duration) *Engine {
	t.Helper()
	return startEngineWith(t, Config{Node: node, Tokenizer: tk, DefaultTimeout: timeout})
}

// startEngineWith starts an engine with cfg on a loopback port, quiet, and
// stops it at the end of the test.
func startEngineWith(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", quiet
	e, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e
}

func dial(t *testing.T, e *Engine, participant uint64, key []byte, tune func(*simulator.BankConfig)) *simulator.Bank {
	t.Helper()
	cfg := simulator.BankConfig{Participant: participant, MACKey: key, SwitchAddr: e.Addr(), Seed: participant, ResponseTimeout: 15 * time.Second}
	if tune != nil {
		tune(&cfg)
	}
	b, err := simulator.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%d signs on: %v", participant, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pay(t *testing.T, b *simulator.Bank, p simulator.Payment, want iso8583.ResponseCode) *simulator.Result {
	t.Helper()
	res, err := b.Pay(context.Background(), p)
	if err != nil {
		t.Fatalf("pay %+v: %v", p, err)
	}
	if res.Code != want {
		t.Fatalf("pay %+v: %s (%s), want %s (%s)", p, res.Code, res.Code.Meaning(), want, want.Meaning())
	}
	return res
}

func transferOf(t *testing.T, node *replica.Node, acquirer uint64, rrn string) (ledger.Transfer, bool) {
	t.Helper()
	var tr ledger.Transfer
	var found bool
	err := node.Local(func(s *store.Store) (err error) {
		tr, found, err = s.Transfer(flow.PaymentTransferID(acquirer, rrn))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr, found
}

// TestPaymentPaths: every outcome a payer can get, over TCP.
func TestPaymentPaths(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, 700*time.Millisecond)
	a := dial(t, e, alpha, alphaKey, nil)
	b := dial(t, e, beta, betaKey, nil)

	// Approved, by account and by alias; the payee saw both.
	first := pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 2_500}, iso8583.ResponseApproved)
	pay(t, a, simulator.Payment{Alias: "msisdn:+254700000001", Amount: 1_000}, iso8583.ResponseApproved)
	if st := b.Received(); st.Payments != 2 || st.Approved != 2 {
		t.Fatalf("beta received %+v", st)
	}
	if tr, ok := transferOf(t, leader, alpha, first.RRN); !ok || tr.Status != ledger.StatusPosted {
		t.Fatalf("the approved payment is %+v in the ledger", tr)
	}

	// The identical resend gets the first answer; a conflicting one 94.
	again, err := a.Resend(context.Background(), simulator.Payment{RRN: first.RRN, PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 2_500})
	if err != nil || again.Code != iso8583.ResponseApproved || again.Response.ApprovalCode != first.Response.ApprovalCode {
		t.Fatalf("resend: %+v %v", again, err)
	}
	conflict, err := a.Resend(context.Background(), simulator.Payment{RRN: first.RRN, PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 2_501})
	if err != nil || conflict.Code != iso8583.ResponseDuplicate {
		t.Fatalf("conflicting duplicate: %+v %v", conflict, err)
	}
	if st := b.Received(); st.Payments != 2 {
		t.Fatalf("a resend reached the payee: %+v", st)
	}

	// Refused before the payee is asked.
	pay(t, a, simulator.Payment{Alias: "msisdn:+254799999999", Amount: 100}, iso8583.ResponseUnknownAccount)
	pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "X", Amount: 5_250_001_00}, iso8583.ResponseLiquidityExhausted)
	pay(t, a, simulator.Payment{PayeeParticipant: 77_777, PayeeAccount: "X", Amount: 100}, iso8583.ResponseUnknownParticipant)
	pull, err := a.Pull(context.Background(), simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0010000007", PayerAccount: "0020000001", Amount: 100}, "NO-SUCH-MANDATE")
	if err != nil || pull.Code != iso8583.ResponseNotPermitted {
		t.Fatalf("pull without a mandate: %+v %v", pull, err)
	}
	if st := b.Received(); st.Payments != 2 {
		t.Fatalf("a refused payment reached the payee: %+v", st)
	}
	_ = b.Close()

	// Declined by the payee.
	decliner := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DeclinePercent = 100 })
	pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "0020000042", Amount: 300}, iso8583.ResponseDoNotHonour)
	_ = decliner.Close()

	// The payee stays silent: 68 at the deadline; it signs off; the advice
	// waits in the outbox and reaches it when it signs on again.
	timedOut := oweAdvice(t, e, leader, a)
	back := dial(t, e, beta, betaKey, nil)
	waitUntil(t, 5*time.Second, "the advice to be answered", func() bool { return leader.Routing().OutboxLen() == 0 })
	if st := back.Received(); st.Advices == 0 || st.AdviceLog[0].RRN != timedOut {
		t.Fatalf("the payee got advices %+v, want one for %s", st.AdviceLog, timedOut)
	}

	// The payer reverses a final payment: 12.
	rev, err := a.Reverse(context.Background(), first.RRN)
	if err != nil || rev.Code != iso8583.ResponseInvalidTransaction {
		t.Fatalf("reversal of a final payment: %+v %v", rev, err)
	}

	// The ledger agrees with itself after all of it.
	if err := leader.Local(func(s *store.Store) error { return s.Check() }); err != nil {
		t.Fatal(err)
	}
}

// TestSecurity: a wrong MAC at sign-on, and messages before sign-on, are
// refused with 63.
func TestSecurity(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, time.Second)
	_, err := simulator.Dial(context.Background(), simulator.BankConfig{Participant: alpha, MACKey: betaKey, SwitchAddr: e.Addr()})
	var so *simulator.SignOnError
	if !errors.As(err, &so) || so.Code != iso8583.ResponseSecurityViolation {
		t.Fatalf("sign-on with the wrong key: %v", err)
	}
	_, err = simulator.Dial(context.Background(), simulator.BankConfig{Participant: 55_555, MACKey: betaKey, SwitchAddr: e.Addr()})
	if !errors.As(err, &so) || so.Code != iso8583.ResponseUnknownParticipant {
		t.Fatalf("sign-on of an unknown participant: %v", err)
	}

	// A 0200 on a fresh connection, before any sign-on.
	conn, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := &iso8583.Message{MTI: iso8583.MTIFinancialRequest, ProcessingCode: iso8583.ProcessingPush, Amount: 100, STAN: 7, Currency: kes}
	copy(m.RRN[:], "ABCDEF123456")
	m.SetTransmissionTime(time.Now())
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldSTAN, iso8583.FieldRRN, iso8583.FieldCurrency)
	for f, v := range map[iso8583.Field]string{iso8583.FieldAcquirer: "10001", iso8583.FieldPayerAccount: "1", iso8583.FieldPayeeAccount: "2", iso8583.FieldReceiver: "10002"} {
		if err := m.SetBytes(f, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	mac, _ := iso8583.NewMACer(alphaKey)
	frame, err := iso8583.PackFrame(nil, m, mac)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := iso8583.NewFrameReader(conn).Next()
	if err != nil {
		t.Fatal(err)
	}
	var resp iso8583.Message
	if err := iso8583.Unpack(got, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.MTI != iso8583.MTIFinancialResponse || resp.ResponseCode != iso8583.ResponseSecurityViolation || resp.STAN != 7 {
		t.Fatalf("before sign-on: %s %s STAN %d", resp.MTI, resp.ResponseCode, resp.STAN)
	}
	if tr, ok := transferOf(t, leader, alpha, "ABCDEF123456"); ok {
		t.Fatalf("a message before sign-on moved money: %+v", tr)
	}
}

// TestFollowerRefuses: only the leader takes sessions; a follower's front
// end answers the sign-on 91.
func TestFollowerRefuses(t *testing.T) {
	nodes, leader, tk := startNodes(t, 3)
	var follower *replica.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	// The follower has the directory too (it is replicated).
	waitUntil(t, 10*time.Second, "the follower to learn the directory", func() bool {
		_, ok := follower.Routing().Participant(alpha)
		return ok
	})
	fe := startEngine(t, follower, tk, time.Second)
	_, err := simulator.Dial(context.Background(), simulator.BankConfig{Participant: alpha, MACKey: alphaKey, SwitchAddr: fe.Addr()})
	var so *simulator.SignOnError
	if !errors.As(err, &so) || so.Code != iso8583.ResponseUnavailable {
		t.Fatalf("sign-on at a follower: %v", err)
	}
	le := startEngine(t, leader, tk, time.Second)
	a := dial(t, le, alpha, alphaKey, nil)
	dial(t, le, beta, betaKey, nil)
	pay(t, a, simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B1", Amount: 100}, iso8583.ResponseApproved)
}

// TestLoadNoLoss: a burst of concurrent payments both ways; every approved
// payment is posted, every other one is not, and the ledger checks out.
func TestLoadNoLoss(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e := startEngine(t, leader, tk, 2*time.Second)
	a := dial(t, e, alpha, alphaKey, func(c *simulator.BankConfig) { c.Sessions = 2; c.DeclinePercent = 10 })
	b := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.Sessions = 2; c.DeclinePercent = 10 })
	var wg sync.WaitGroup
	results := make([]*simulator.LoadResult, 2)
	errs := make([]error, 2)
	for i, bank := range []*simulator.Bank{a, b} {
		payee := simulator.Payee{Participant: beta, Account: "B"}
		if i == 1 {
			payee = simulator.Payee{Participant: alpha, Account: "A"}
		}
		wg.Go(func() {
			results[i], errs[i] = bank.RunLoad(context.Background(), simulator.LoadConfig{Rate: 500, Count: 1000, Payees: []simulator.Payee{payee}, Timeout: 10 * time.Second})
		})
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.Answered != r.Sent || r.Sent != 1000 {
			t.Fatalf("bank %d: %d sent, %d answered, %d timed out", i, r.Sent, r.Answered, r.TimedOut)
		}
		if r.ByCode[iso8583.ResponseDoNotHonour] == 0 || r.ByCode[iso8583.ResponseApproved] < 800 {
			t.Fatalf("bank %d: outcomes %v", i, r.ByCode)
		}
		acquirer := uint64(alpha)
		if i == 1 {
			acquirer = beta
		}
		for rrn := range r.Approved.All() {
			if tr, ok := transferOf(t, leader, acquirer, rrn.String()); !ok || tr.Status != ledger.StatusPosted {
				t.Fatalf("approved payment %d/%s is %+v in the ledger", acquirer, rrn, tr)
			}
		}
	}
	if err := leader.Local(func(s *store.Store) error { return s.Check() }); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulStop: a payment in progress when the switch is asked to stop
// finishes (the payee's late-ish answer still gets in), and a new one is
// refused with 91 meanwhile.
func TestGracefulStop(t *testing.T) {
	_, leader, tk := startNodes(t, 1)
	e, err := Start(Config{Node: leader, Tokenizer: tk, Addr: "127.0.0.1:0", DefaultTimeout: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, e, alpha, alphaKey, nil)
	dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DelayPercent = 100; c.Delay = 700 * time.Millisecond })
	done := make(chan *simulator.Result, 1)
	if err := a.PayAsync(simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B", Amount: 100}, func(r *simulator.Result, err error) { done <- r }); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the payment to be in progress", func() bool { return e.Flow.Inflight() == 1 })
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.Stop(ctx)
	}()
	waitUntil(t, 5*time.Second, "draining", e.Flow.Draining)
	refused, err := a.Pay(context.Background(), simulator.Payment{PayeeParticipant: beta, PayeeAccount: "B", Amount: 100})
	if err != nil || refused.Code != iso8583.ResponseUnavailable {
		t.Fatalf("a payment while stopping: %+v %v", refused, err)
	}
	if r := <-done; r == nil || r.Code != iso8583.ResponseApproved {
		t.Fatalf("the payment in progress: %+v", r)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestAdviceSurvivesLeaderChange: a payment is forwarded and then its
// leader stops before the payee answers. The new leader finds the
// reservation nobody is finishing, voids it and owes the payee a reversal
// advice, which reaches the payee when it signs on at the new leader; the
// payer's resend gets 68.
func TestAdviceSurvivesLeaderChange(t *testing.T) {
	nodes, leader, tk, stops := startStoppableNodes(t, 3)
	e := startEngine(t, leader, tk, 30*time.Second)
	a := dial(t, e, alpha, alphaKey, nil)
	silent := dial(t, e, beta, betaKey, func(c *simulator.BankConfig) { c.DropPercent = 100 })
	rrn := a.NextRRN()
	p := simulator.Payment{RRN: rrn, PayeeParticipant: beta, PayeeAccount: "B9", Amount: 777}
	if err := a.PayAsync(p, func(*simulator.Result, error) {}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the payee to see the payment", func() bool { return silent.Received().Payments == 1 })
	if tr, ok := transferOf(t, leader, alpha, rrn); !ok || tr.Status != ledger.StatusPending {
		t.Fatalf("the forwarded payment is %+v", tr)
	}

	// The leader goes away with the payment in progress.
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = e.Stop(stopCtx) // cannot drain: the payee never answers
	cancel()
	_ = silent.Close()
	_ = a.Close()
	for i, n := range nodes {
		if n == leader {
			stops[i]()
		}
	}
	var next *replica.Node
	waitUntil(t, 20*time.Second, "a new leader", func() bool {
		for _, n := range nodes {
			if n != leader && n.IsLeader() {
				next = n
				return true
			}
		}
		return false
	})
	e2 := startEngine(t, next, tk, 30*time.Second)
	waitUntil(t, 10*time.Second, "the new leader to void the orphan and owe an advice", func() bool {
		tr, ok := transferOf(t, next, alpha, rrn)
		return ok && tr.Status == ledger.StatusVoided && next.Routing().OutboxLen() == 1
	})
	back := dial(t, e2, beta, betaKey, nil)
	waitUntil(t, 10*time.Second, "the advice to be answered", func() bool { return next.Routing().OutboxLen() == 0 })
	if st := back.Received(); st.Advices == 0 || st.AdviceLog[0].RRN != rrn {
		t.Fatalf("the payee got %+v", st.AdviceLog)
	}
	a2 := dial(t, e2, alpha, alphaKey, nil)
	res, err := a2.Pay(context.Background(), p) // the same RRN and content, sent again
	if err != nil || res.Code != iso8583.ResponsePayeeTimedOut {
		t.Fatalf("the payer's resend: %+v %v", res, err)
	}
}
