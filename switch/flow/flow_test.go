package flow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// These tests drive the flow with a real one-node cluster (ledger and
// routing tables on Pebble) and the example participants file, through
// its Request and Response methods: the front end is replaced by channels.
// The same paths over TCP, with the front end and simulated banks, are in
// switch/engine's tests.

const (
	alpha  = 10001 // a bank, funded 5,000,000.00 KES, cap 250,000.00
	beta   = 10002 // a bank, funded likewise
	wallet = 20001 // a wallet
	kes    = 404
)

type outbox struct {
	mu   sync.Mutex
	msgs map[uint64]chan *iso8583.Message
	down map[uint64]bool
}

func (o *outbox) ch(p uint64) chan *iso8583.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.msgs[p] == nil {
		o.msgs[p] = make(chan *iso8583.Message, 64)
	}
	return o.msgs[p]
}

func (o *outbox) Send(p uint64, m *iso8583.Message) error {
	o.mu.Lock()
	down := o.down[p]
	o.mu.Unlock()
	if down {
		return fmt.Errorf("no session of %d", p)
	}
	c := *m
	o.ch(p) <- &c
	return nil
}

type session struct {
	participant uint64
	replies     chan *iso8583.Message
}

func (s *session) Participant() uint64 { return s.participant }
func (s *session) Reply(m *iso8583.Message) error {
	c := *m
	s.replies <- &c
	return nil
}

type fixture struct {
	t     *testing.T
	node  *replica.Node
	flow  *Flow
	out   *outbox
	payer *session
	rrn   int
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	return newFixtureWith(t, timeout, false)
}

// newFixtureWith is newFixture with Config.RouteWaits set to routeWaits,
// and the flow's Config changed by each of configure.
func newFixtureWith(t *testing.T, timeout time.Duration, routeWaits bool, configure ...func(*Config)) *fixture {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(replica.Config{NodeID: "n1", Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for !node.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tk, _ := routing.NewTokenizer(bytes.Repeat([]byte("k"), 32))
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "participants.yaml"))
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
	if _, err := plan.Apply(ctx, node); err != nil {
		t.Fatal(err)
	}
	lim, _ := routing.NewLimiter(routing.LimiterConfig{})
	audit, _ := routing.NewAuditRing(1024)
	router, err := routing.NewRouter(routing.RouterConfig{State: node.Routing(), Tokenizer: tk, Limiter: lim, Auditor: audit})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Node: node, Router: router, DefaultTimeout: timeout, RouteWaits: routeWaits, Logger: logger}
	for _, c := range configure {
		c(&cfg)
	}
	fl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := &outbox{msgs: map[uint64]chan *iso8583.Message{}, down: map[uint64]bool{}}
	fl.SetSender(out)
	go fl.Run(ctx)
	return &fixture{t: t, node: node, flow: fl, out: out, payer: &session{participant: alpha, replies: make(chan *iso8583.Message, 64)}}
}

// payment builds a 0200 from alpha: to participant+account, or to an
// alias when participant is 0.
func (fx *fixture) payment(participant uint64, payee string, amount uint64) *iso8583.Message {
	fx.rrn++
	m := &iso8583.Message{MTI: iso8583.MTIFinancialRequest, ProcessingCode: iso8583.ProcessingPush, Amount: amount, STAN: uint32(fx.rrn), Currency: kes}
	copy(m.RRN[:], fmt.Sprintf("T%011d", fx.rrn))
	m.SetTransmissionTime(time.Now())
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldSTAN, iso8583.FieldRRN, iso8583.FieldCurrency, iso8583.FieldMAC)
	must(fx.t, m.SetBytes(iso8583.FieldAcquirer, []byte(strconv.FormatUint(alpha, 10))))
	must(fx.t, m.SetBytes(iso8583.FieldPayerAccount, []byte("0010000001")))
	must(fx.t, m.SetBytes(iso8583.FieldPayeeAccount, []byte(payee)))
	if participant != 0 {
		must(fx.t, m.SetBytes(iso8583.FieldReceiver, []byte(strconv.FormatUint(participant, 10))))
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) reply() *iso8583.Message {
	fx.t.Helper()
	select {
	case m := <-fx.payer.replies:
		return m
	case <-time.After(10 * time.Second):
		fx.t.Fatal("no reply to the payer")
		return nil
	}
}

func (fx *fixture) forwarded(to uint64) *iso8583.Message {
	fx.t.Helper()
	select {
	case m := <-fx.out.ch(to):
		return m
	case <-time.After(10 * time.Second):
		fx.t.Fatalf("nothing forwarded to %d", to)
		return nil
	}
}

// answer makes participant from answer m with code.
func (fx *fixture) answer(from uint64, m *iso8583.Message, code iso8583.ResponseCode) {
	var resp iso8583.Message
	must(fx.t, resp.ResponseTo(m))
	resp.ResponseCode = code
	resp.Set(iso8583.FieldResponseCode, iso8583.FieldMAC)
	if code == iso8583.ResponseApproved {
		copy(resp.ApprovalCode[:], "APP123")
		resp.Set(iso8583.FieldApprovalCode)
	}
	fx.flow.Response(from, &resp)
}

func (fx *fixture) position(p uint64) ledger.Account {
	fx.t.Helper()
	a, _, err := fx.node.Account(context.Background(), routing.PositionAccount(p, kes))
	must(fx.t, err)
	return a
}

func wantCode(t *testing.T, m *iso8583.Message, want iso8583.ResponseCode) {
	t.Helper()
	if m.ResponseCode != want {
		t.Fatalf("%s answered %s (%s), want %s (%s)", m.MTI, m.ResponseCode, m.ResponseCode.Meaning(), want, want.Meaning())
	}
}

// TestPushPaths runs with payments routed on the caller's goroutine and,
// as with a consent hook, on goroutines of their own.
func TestPushPaths(t *testing.T) {
	for _, routeWaits := range []bool{false, true} {
		t.Run(fmt.Sprintf("RouteWaits=%v", routeWaits), func(t *testing.T) { testPushPaths(t, routeWaits) })
	}
}

func testPushPaths(t *testing.T, routeWaits bool) {
	fx := newFixtureWith(t, 2*time.Second, routeWaits)

	// Approved, by participant and account.
	req := fx.payment(beta, "0020000009", 12_50)
	fx.flow.Request(fx.payer, req)
	fwd := fx.forwarded(beta)
	if fwd.Amount != 12_50 || string(fwd.Bytes(iso8583.FieldPayeeAccount)) != "0020000009" || fwd.RRN != req.RRN {
		t.Fatalf("forwarded %+v", fwd)
	}
	fx.answer(beta, fwd, iso8583.ResponseApproved)
	resp := fx.reply()
	wantCode(t, resp, iso8583.ResponseApproved)
	if string(resp.ApprovalCode[:]) != "APP123" || resp.MTI != iso8583.MTIFinancialResponse {
		t.Fatalf("response %+v", resp)
	}
	if got := fx.position(beta).CreditsPosted; got != 5_000_000_00+12_50 {
		t.Fatalf("beta credited %d", got)
	}

	// The identical resend gets the same answer; a conflicting one 94.
	fx.flow.Request(fx.payer, req)
	again := fx.reply()
	wantCode(t, again, iso8583.ResponseApproved)
	if again.ApprovalCode != resp.ApprovalCode {
		t.Fatalf("resend approval %q, first %q", again.ApprovalCode, resp.ApprovalCode)
	}
	conflict := *req
	conflict.Amount = 13_00
	fx.flow.Request(fx.payer, &conflict)
	wantCode(t, fx.reply(), iso8583.ResponseDuplicate)
	// The payer cannot reverse a final payment.
	rev := *req
	rev.MTI = iso8583.MTIReversalAdvice
	must(t, rev.SetOriginal(iso8583.OriginalOf(req)))
	fx.flow.Request(fx.payer, &rev)
	wantCode(t, fx.reply(), iso8583.ResponseInvalidTransaction)

	// Declined by the payee: its code comes back, nothing moves.
	before := fx.position(alpha)
	req = fx.payment(beta, "0020000009", 100)
	fx.flow.Request(fx.payer, req)
	fx.answer(beta, fx.forwarded(beta), iso8583.ResponseDoNotHonour)
	wantCode(t, fx.reply(), iso8583.ResponseDoNotHonour)
	if after := fx.position(alpha); after.DebitsPosted != before.DebitsPosted || after.DebitsPending != 0 {
		t.Fatalf("a decline moved money: %+v then %+v", before, after)
	}
	fx.flow.Request(fx.payer, req) // its resend: the same decline
	wantCode(t, fx.reply(), iso8583.ResponseDoNotHonour)

	// By alias: resolved, forwarded with the account it is linked to.
	req = fx.payment(0, "msisdn:+254700000001", 500)
	fx.flow.Request(fx.payer, req)
	fwd = fx.forwarded(beta)
	if string(fwd.Bytes(iso8583.FieldPayeeAccount)) != "0020000001" {
		t.Fatalf("alias forwarded to account %q", fwd.Bytes(iso8583.FieldPayeeAccount))
	}
	fx.answer(beta, fwd, iso8583.ResponseApproved)
	wantCode(t, fx.reply(), iso8583.ResponseApproved)

	// Refused before any money moves.
	for _, tc := range []struct {
		name string
		req  *iso8583.Message
		want iso8583.ResponseCode
	}{
		{"unknown alias", fx.payment(0, "msisdn:+254799999999", 500), iso8583.ResponseUnknownAccount},
		{"unknown participant", fx.payment(77777, "X", 500), iso8583.ResponseUnknownParticipant},
		{"liquidity exhausted", fx.payment(beta, "X", 6_000_000_00), iso8583.ResponseLiquidityExhausted},
		{"currency not served", func() *iso8583.Message { m := fx.payment(beta, "X", 1); m.Currency = 800; return m }(), iso8583.ResponseInvalidTransaction},
		{"pays itself", fx.payment(alpha, "X", 1), iso8583.ResponseInvalidTransaction},
		{"zero amount", fx.payment(beta, "X", 0), iso8583.ResponseInvalidAmount},
		{"another acquirer", func() *iso8583.Message {
			m := fx.payment(beta, "X", 1)
			must(t, m.SetBytes(iso8583.FieldAcquirer, []byte("10002")))
			return m
		}(), iso8583.ResponseSecurityViolation},
		{"missing field", func() *iso8583.Message { m := fx.payment(beta, "X", 1); m.Clear(iso8583.FieldCurrency); return m }(), iso8583.ResponseFormatError},
		{"pull without mandate", func() *iso8583.Message {
			m := fx.payment(beta, "X", 1)
			m.ProcessingCode = iso8583.ProcessingPull
			must(t, m.SetBytes(iso8583.FieldAdditionalData, []byte("NO-SUCH")))
			return m
		}(), iso8583.ResponseNotPermitted},
	} {
		fx.flow.Request(fx.payer, tc.req)
		got := fx.reply()
		if got.ResponseCode != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got.ResponseCode, tc.want)
		}
	}
	// The payee has no session: 91, the reservation released.
	fx.out.mu.Lock()
	fx.out.down[beta] = true
	fx.out.mu.Unlock()
	fx.flow.Request(fx.payer, fx.payment(beta, "X", 1))
	wantCode(t, fx.reply(), iso8583.ResponseUnavailable)
	if a := fx.position(alpha); a.DebitsPending != 0 {
		t.Fatalf("pending debits left: %+v", a)
	}
}

func TestTimeoutAndAdvice(t *testing.T) {
	fx := newFixture(t, 300*time.Millisecond)
	req := fx.payment(beta, "0020000009", 700)
	// A payer's own field 33 stays with the payer: the 0200 the payee
	// gets, and the advice's field 90 naming it, carry no forwarder.
	must(t, req.SetBytes(iso8583.FieldForwarder, []byte(strconv.FormatUint(alpha, 10))))
	fx.flow.Request(fx.payer, req)
	fwd := fx.forwarded(beta)
	if fwd.Has(iso8583.FieldForwarder) {
		t.Fatalf("the forwarded 0200 carries the payer's field 33 %q", fwd.Bytes(iso8583.FieldForwarder))
	}
	// The payee stays silent: 68 at the deadline, then the advice.
	wantCode(t, fx.reply(), iso8583.ResponsePayeeTimedOut)
	adv := fx.forwarded(beta)
	if adv.MTI != iso8583.MTIReversalAdvice || adv.RRN != req.RRN || adv.Amount != 700 {
		t.Fatalf("advice %+v", adv)
	}
	orig, err := adv.Original()
	if err != nil || !orig.Matches(fwd) {
		t.Fatalf("advice field 90 %+v does not name the forwarded 0200 (%v)", orig, err)
	}
	// A late approval changes nothing.
	fx.answer(beta, fwd, iso8583.ResponseApproved)
	if got := fx.position(beta).CreditsPosted; got != 5_000_000_00 {
		t.Fatalf("a late approval credited the payee: %d", got)
	}
	// Unanswered, the advice comes again; the payee signs on: at once.
	fx.forwarded(beta)
	fx.flow.SignedOn(beta)
	again := fx.forwarded(beta)
	if again.RRN != req.RRN || fx.node.Routing().OutboxLen() != 1 {
		t.Fatalf("resent advice %+v, outbox %d", again, fx.node.Routing().OutboxLen())
	}
	fx.answer(beta, again, iso8583.ResponseApproved)
	deadline := time.Now().Add(5 * time.Second)
	for fx.node.Routing().OutboxLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the 0430 did not clear the outbox")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The resend of the 0200 gets 68 too.
	fx.flow.Request(fx.payer, req)
	wantCode(t, fx.reply(), iso8583.ResponsePayeeTimedOut)
	if a := fx.position(alpha); a.DebitsPending != 0 || a.DebitsPosted != 0 {
		t.Fatalf("alpha's position after a timeout: %+v", a)
	}
}

// TestAdvicesOwedBound: a payee that takes payments but answers neither
// them nor their advices is refused new payments (91, nothing reserved,
// nothing forwarded) once it owes AdvicesOwedMax advices; other payees
// are not; one acknowledged advice lets its payments through again.
func TestAdvicesOwedBound(t *testing.T) {
	fx := newFixtureWith(t, 200*time.Millisecond, false, func(c *Config) { c.AdvicesOwedMax = 2 })
	st := fx.node.Routing()
	var advice *iso8583.Message
	for range 2 {
		fx.flow.Request(fx.payer, fx.payment(beta, "0020000009", 100))
		if m := fx.forwarded(beta); m.MTI != iso8583.MTIFinancialRequest {
			t.Fatalf("forwarded %s, want the payment", m.MTI)
		}
		wantCode(t, fx.reply(), iso8583.ResponsePayeeTimedOut)
		advice = fx.forwarded(beta)
		if advice.MTI != iso8583.MTIReversalAdvice {
			t.Fatalf("forwarded %s, want the advice", advice.MTI)
		}
	}
	if n := st.OwedAdvices(beta); n != 2 {
		t.Fatalf("beta owed %d advices, want 2", n)
	}

	held := fx.payment(beta, "0020000009", 100)
	fx.flow.Request(fx.payer, held)
	wantCode(t, fx.reply(), iso8583.ResponseUnavailable)
	if a := fx.position(alpha); a.DebitsPending != 0 || a.DebitsPosted != 0 {
		t.Fatalf("alpha's position after the refusal: %+v", a)
	}
	if _, found, err := fx.node.Transfer(context.Background(), transferID(tagPayment, mustKey(t, held))); err != nil || found {
		t.Fatalf("the refused payment reached the ledger (found %v, err %v)", found, err)
	}

	// Another payee is not held.
	other := fx.payment(wallet, "254700000002", 100)
	fx.flow.Request(fx.payer, other)
	fwd := fx.forwarded(wallet)
	fx.answer(wallet, fwd, iso8583.ResponseApproved)
	wantCode(t, fx.reply(), iso8583.ResponseApproved)

	// beta acknowledges one advice: below the bound, its payments go
	// through again. (Resent advices may be queued for beta meanwhile.)
	fx.answer(beta, advice, iso8583.ResponseApproved)
	deadline := time.Now().Add(5 * time.Second)
	for st.OwedAdvices(beta) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("beta owed %d advices after one 0430, want 1", st.OwedAdvices(beta))
		}
		time.Sleep(10 * time.Millisecond)
	}
	again := fx.payment(beta, "0020000009", 100)
	fx.flow.Request(fx.payer, again)
	for {
		m := fx.forwarded(beta)
		if m.MTI == iso8583.MTIFinancialRequest {
			if m.RRN != again.RRN {
				t.Fatalf("forwarded RRN %q, want %q", m.RRN, again.RRN)
			}
			fx.answer(beta, m, iso8583.ResponseApproved)
			break
		}
	}
	wantCode(t, fx.reply(), iso8583.ResponseApproved)
}

func mustKey(t *testing.T, m *iso8583.Message) iso8583.PaymentKey {
	t.Helper()
	k, ok := m.PaymentKey()
	if !ok {
		t.Fatal("no payment key")
	}
	return k
}

func TestPayerReversalAndPull(t *testing.T) {
	fx := newFixture(t, 5*time.Second)
	req := fx.payment(beta, "0020000009", 900)
	fx.flow.Request(fx.payer, req)
	fx.forwarded(beta)
	rev := *req
	rev.MTI = iso8583.MTIReversalAdvice
	must(t, rev.SetOriginal(iso8583.OriginalOf(req)))
	// A 0420 that names another amount, or currency, reverses nothing: 25.
	for _, change := range []func(m *iso8583.Message){
		func(m *iso8583.Message) { m.Amount++ },
		func(m *iso8583.Message) { m.Currency = 800 },
	} {
		wrong := rev
		change(&wrong)
		fx.flow.Request(fx.payer, &wrong)
		wantCode(t, fx.reply(), iso8583.ResponseOriginalNotFound)
	}
	fx.flow.Request(fx.payer, &rev)
	first, second := fx.reply(), fx.reply()
	if first.MTI == iso8583.MTIFinancialResponse {
		first, second = second, first
	}
	wantCode(t, first, iso8583.ResponseApproved)     // the 0430
	wantCode(t, second, iso8583.ResponseDoNotHonour) // the 0200
	if adv := fx.forwarded(beta); adv.MTI != iso8583.MTIReversalAdvice || adv.RRN != req.RRN {
		t.Fatalf("payee got %+v", adv)
	}
	// Void now, it is found by the ledger: the wrong amount is still 25.
	wrong := rev
	wrong.Amount++
	fx.flow.Request(fx.payer, &wrong)
	wantCode(t, fx.reply(), iso8583.ResponseOriginalNotFound)
	unknown := *fx.payment(beta, "X", 1)
	unknown.MTI = iso8583.MTIReversalAdvice
	fx.flow.Request(fx.payer, &unknown)
	wantCode(t, fx.reply(), iso8583.ResponseOriginalNotFound)

	// A pull by alpha (the merchant's bank) from beta's customer under the
	// example mandate: beta approves.
	pull := fx.payment(beta, "0010000007", 2_000_00)
	pull.ProcessingCode = iso8583.ProcessingPull
	must(t, pull.SetBytes(iso8583.FieldPayerAccount, []byte("0020000001")))
	must(t, pull.SetBytes(iso8583.FieldAdditionalData, []byte("MND-0001")))
	fx.flow.Request(fx.payer, pull)
	asked := fx.forwarded(beta)
	if asked.ProcessingCode != iso8583.ProcessingPull {
		t.Fatalf("payer's bank asked %+v", asked)
	}
	fx.answer(beta, asked, iso8583.ResponseApproved)
	wantCode(t, fx.reply(), iso8583.ResponseApproved)
	if got := fx.position(alpha).CreditsPosted; got != 5_000_000_00+2_000_00 {
		t.Fatalf("alpha credited %d by the pull", got)
	}
	// The mandate allows one debit a period: the next pull is refused.
	again := fx.payment(beta, "0010000007", 1_00)
	again.ProcessingCode = iso8583.ProcessingPull
	must(t, again.SetBytes(iso8583.FieldPayerAccount, []byte("0020000001")))
	must(t, again.SetBytes(iso8583.FieldAdditionalData, []byte("MND-0001")))
	fx.flow.Request(fx.payer, again)
	wantCode(t, fx.reply(), iso8583.ResponseNotPermitted)
}

// TestReversalWaitsForAResend: a payer's 0420 that arrives while a resend
// of a posted payment is in progress, before the resend meets the posted
// reservation, gets 12 and reverses nothing. It used to get 00 at once,
// as if the payment were to be voided: the payer was told of a reversal
// that never happened.
func TestReversalWaitsForAResend(t *testing.T) {
	fx, hold, held := newHeldFixture(t)
	req := fx.payment(beta, "0020000009", 900)
	fx.flow.Request(fx.payer, req)
	fx.answer(beta, fx.forwarded(beta), iso8583.ResponseApproved)
	wantCode(t, fx.reply(), iso8583.ResponseApproved)
	credited := fx.position(beta).CreditsPosted

	// The resend waits in the consent hook, in progress and not forwarded.
	hold.Store(true)
	fx.flow.Request(fx.payer, req)
	key := mustKey(t, req)
	waitFor(t, "the resend to be in progress", func() bool {
		fx.flow.mu.Lock()
		defer fx.flow.mu.Unlock()
		return fx.flow.inflight[key] != nil
	})
	rev := *req
	rev.MTI = iso8583.MTIReversalAdvice
	must(t, rev.SetOriginal(iso8583.OriginalOf(req)))
	fx.flow.Request(fx.payer, &rev)
	waitFor(t, "the reversal to wait for the payment", func() bool {
		fx.flow.mu.Lock()
		defer fx.flow.mu.Unlock()
		p := fx.flow.inflight[key]
		return p != nil && len(p.reversals) == 1
	})
	select {
	case m := <-fx.payer.replies:
		t.Fatalf("answered %s %s before the payment's outcome", m.MTI, m.ResponseCode)
	default:
	}
	close(held)

	first, second := fx.reply(), fx.reply()
	if first.MTI == iso8583.MTIFinancialResponse {
		first, second = second, first
	}
	wantCode(t, first, iso8583.ResponseInvalidTransaction) // the 0430: irrevocable
	wantCode(t, second, iso8583.ResponseApproved)          // the resent 0200
	// Nothing is left waiting, so a graceful stop's Drain returns.
	waitFor(t, "no 0420 to wait", func() bool { return fx.flow.reversalsWaiting.Load() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	must(t, fx.flow.Drain(ctx))
	if got := fx.position(beta).CreditsPosted; got != credited {
		t.Fatalf("beta's credits %d, %d before the reversal", got, credited)
	}
	select {
	case m := <-fx.out.ch(beta):
		t.Fatalf("the payee got %s %s for a payment that stays posted", m.MTI, m.RRN)
	case <-time.After(100 * time.Millisecond):
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUnowedAdviceAnswersIgnored: 0430s for advices nobody owes their
// sender are ignored without a Raft proposal each (a participant could
// otherwise grow the log and the switch's goroutines at will); the 0430
// for an advice owed still closes it.
func TestUnowedAdviceAnswersIgnored(t *testing.T) {
	fx := newFixture(t, 200*time.Millisecond)
	req := fx.payment(beta, "0020000009", 700)
	fx.flow.Request(fx.payer, req)
	fx.forwarded(beta)
	wantCode(t, fx.reply(), iso8583.ResponsePayeeTimedOut)
	adv := fx.forwarded(beta)
	if adv.MTI != iso8583.MTIReversalAdvice {
		t.Fatalf("advice %+v", adv)
	}

	before := fx.node.AppliedIndex()
	const junk = 2_000
	for i := range junk {
		m := *adv
		copy(m.RRN[:], fmt.Sprintf("J%011d", i))
		fx.flow.Response(beta, answerTo(t, &m))
		if i%2 == 0 { // the owed advice's 0430, from the wrong participant
			fx.flow.Response(alpha, answerTo(t, adv))
		}
	}
	if got := testutil.ToFloat64(fx.flow.m.adviceAnswersIgnored); got != junk+junk/2 {
		t.Fatalf("%v 0430s ignored, want %d", got, junk+junk/2)
	}
	if after := fx.node.AppliedIndex(); after != before {
		t.Fatalf("unowed 0430s were proposed: applied index %d, then %d", before, after)
	}
	if n := fx.node.Routing().OutboxLen(); n != 1 {
		t.Fatalf("outbox %d, want the one advice still owed", n)
	}

	fx.flow.Response(beta, answerTo(t, adv))
	waitFor(t, "the owed advice's 0430 to close it", func() bool { return fx.node.Routing().OutboxLen() == 0 })
}

// answerTo is the 0430 to advice adv.
func answerTo(t *testing.T, adv *iso8583.Message) *iso8583.Message {
	t.Helper()
	var resp iso8583.Message
	must(t, resp.ResponseTo(adv))
	resp.ResponseCode = iso8583.ResponseApproved
	resp.Set(iso8583.FieldResponseCode)
	return &resp
}

// TestJoinedResendAnsweredAsItself: a resend (new STAN and time) that
// joins its payment in progress gets the payment's answer with its own
// fields 11 and 7, which is how its sender matches it.
func TestJoinedResendAnsweredAsItself(t *testing.T) {
	fx := newFixture(t, 5*time.Second)
	req := fx.payment(beta, "0020000009", 300)
	fx.flow.Request(fx.payer, req)
	fwd := fx.forwarded(beta)
	resend := *req
	resend.STAN = req.STAN + 500
	resend.SetTransmissionTime(time.Now().Add(time.Second))
	fx.flow.Request(fx.payer, &resend)
	waitFor(t, "the resend to join the payment", func() bool {
		fx.flow.mu.Lock()
		defer fx.flow.mu.Unlock()
		p := fx.flow.inflight[mustKey(t, req)]
		return p != nil && len(p.also) == 1
	})
	fx.answer(beta, fwd, iso8583.ResponseApproved)
	got := map[uint32]*iso8583.Message{}
	for range 2 {
		m := fx.reply()
		wantCode(t, m, iso8583.ResponseApproved)
		got[m.STAN] = m
	}
	for _, sent := range []*iso8583.Message{req, &resend} {
		m := got[sent.STAN]
		if m == nil || m.TransmissionTime != sent.TransmissionTime {
			t.Fatalf("no answer with STAN %d and time %s: got %v", sent.STAN, sent.TransmissionTime, got)
		}
	}
}

// TestAdviceAnswersBatched: a payee answering many owed advices at once
// (as after it signs on again) has them all recorded in a few Raft
// entries, at once, rather than one entry each.
func TestAdviceAnswersBatched(t *testing.T) {
	fx := newFixture(t, 200*time.Millisecond)
	const n = 50 // under the outbox channel's 64, so nothing blocks
	for range n {
		fx.flow.Request(fx.payer, fx.payment(beta, "0020000009", 100))
	}
	for range n {
		wantCode(t, fx.reply(), iso8583.ResponsePayeeTimedOut)
	}
	advices := map[[12]byte]*iso8583.Message{}
	for len(advices) < n {
		if m := fx.forwarded(beta); m.MTI == iso8583.MTIReversalAdvice {
			advices[m.RRN] = m
		}
	}
	if owed := fx.node.Routing().OwedAdvices(beta); owed != n {
		t.Fatalf("%d advices owed, want %d", owed, n)
	}
	before := fx.node.AppliedIndex()
	for _, adv := range advices {
		fx.flow.Response(beta, answerTo(t, adv))
	}
	waitFor(t, "every advice to be acknowledged", func() bool { return fx.node.Routing().OwedAdvices(beta) == 0 })
	if entries := fx.node.AppliedIndex() - before; entries > 5 {
		t.Fatalf("%d 0430s took %d log entries", n, entries)
	}
}

// TestReversalBesideAConflictingRequest: while a conflicting 0200 (same
// 32 + 37, another amount) is in progress, the bank's 0420 for the posted
// payment under that key gets 12 from the ledger, not 25.
func TestReversalBesideAConflictingRequest(t *testing.T) {
	fx, hold, held := newHeldFixture(t)
	req := fx.payment(beta, "0020000009", 900)
	fx.flow.Request(fx.payer, req)
	fx.answer(beta, fx.forwarded(beta), iso8583.ResponseApproved)
	wantCode(t, fx.reply(), iso8583.ResponseApproved)

	hold.Store(true)
	conflicting := *req
	conflicting.Amount = 901
	fx.flow.Request(fx.payer, &conflicting)
	waitFor(t, "the conflicting request to be in progress", func() bool {
		fx.flow.mu.Lock()
		defer fx.flow.mu.Unlock()
		return fx.flow.inflight[mustKey(t, req)] != nil
	})
	rev := *req
	rev.MTI = iso8583.MTIReversalAdvice
	must(t, rev.SetOriginal(iso8583.OriginalOf(req)))
	fx.flow.Request(fx.payer, &rev)
	wantCode(t, fx.reply(), iso8583.ResponseInvalidTransaction) // the 0430: posted, irrevocable
	close(held)
	wantCode(t, fx.reply(), iso8583.ResponseDuplicate) // the conflicting 0200
}

// newHeldFixture is a fixture whose payments, once hold is set, wait in
// the consent hook (in progress, not forwarded) until held is closed.
func newHeldFixture(t *testing.T) (fx *fixture, hold *atomic.Bool, held chan struct{}) {
	t.Helper()
	hold, held = new(atomic.Bool), make(chan struct{})
	hook := routing.HookFunc(func(ctx context.Context, req routing.Request) (routing.Decision, error) {
		if hold.Load() {
			<-held
		}
		return routing.Decision{Allow: true}, nil
	})
	fx = newFixtureWith(t, 5*time.Second, true, func(c *Config) {
		tk, _ := routing.NewTokenizer(bytes.Repeat([]byte("k"), 32))
		lim, _ := routing.NewLimiter(routing.LimiterConfig{})
		audit, _ := routing.NewAuditRing(1024)
		r, err := routing.NewRouter(routing.RouterConfig{State: c.Node.Routing(), Tokenizer: tk, Limiter: lim, Auditor: audit, Consent: hook})
		must(t, err)
		c.Router = r
	})
	return fx, hold, held
}
