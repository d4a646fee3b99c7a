package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/replica"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus"
)

// Node is what the flow needs of the replicated state: the leader's
// proposals (ledger and routing), its local store and tables, and whether
// it leads. *replica.Node implements it.
type Node interface {
	SubmitOne(ctx context.Context, cmd ledger.Command) (ledger.Result, error)
	SubmitAsync(cmd ledger.Command, then func(ledger.Result, error))
	SubmitRouting(ctx context.Context, cmds []routing.Command) ([]routing.Result, error)
	Local(fn func(*store.Store) error) error
	Routing() *routing.State
	IsLeader() bool
	Status() replica.Status
}

// Sender delivers a message the switch originates (a forwarded payment, a
// reversal advice) to one of a participant's sessions. The front end
// implements it; it adds the MAC.
type Sender interface {
	Send(participant uint64, m *iso8583.Message) error
}

// Replier answers the session a request came on.
type Replier interface {
	Participant() uint64
	Reply(m *iso8583.Message) error
}

// Config wires a Flow.
type Config struct {
	Node   Node
	Router *routing.Router
	// DefaultTimeout is how long the switch waits for a payee that has no
	// timeout of its own in the directory. Default 10 s.
	DefaultTimeout time.Duration
	// InflightMax bounds the payments in progress; beyond it a new payment
	// is answered 91 at once. Default 10,000: a third of a second of
	// payments at 30,000/s. A bound of 200,000 (when each payment in
	// progress held a goroutine) let a backlog grow until the goroutines'
	// scheduling and stacks slowed the switch below the offered load, and
	// it collapsed instead of shedding the excess.
	InflightMax int
	// RouteWaits says the router may wait (a consent hook is configured):
	// each payment is then routed on a goroutine of its own. Otherwise
	// routing reads memory only, and Request routes and reserves on the
	// caller's goroutine (a front end worker), which saves a goroutine
	// per payment.
	RouteWaits bool
	// AdviceRetryMax is the longest wait between two sends of an
	// unanswered reversal advice (the wait doubles from one second).
	// Default 60 s.
	AdviceRetryMax time.Duration
	// AdvicesOwedMax bounds the reversal advices the switch may owe one
	// participant. A participant that takes payments but answers neither
	// them nor their advices (signed on, but stuck) would otherwise make
	// the replicated outbox, and every node's memory and snapshots, grow
	// by up to a thousand advices a second. At the bound, payments whose
	// target is that participant (the payee of a push, the payer's bank
	// of a pull) are answered 91 at once, before any money is reserved,
	// until it acknowledges advices with 0430 and its count drops below
	// the bound. Advices still owed for payments already forwarded are
	// recorded beyond it, so the outbox holds at most the bound plus the
	// payments in progress. Default 10,000.
	AdvicesOwedMax int
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

const (
	defaultTimeout     = 10 * time.Second
	defaultInflightMax = 10_000
	defaultAdvicesOwed = 10_000
	// ledgerGrace is added to a payment's deadline for the pending
	// transfer's own timeout: the flow voids at the deadline, the ledger's
	// expiry is the backstop when no node does (a leader that died).
	ledgerGrace = 5 * time.Second
	// submitTimeout bounds one proposal.
	submitTimeout = 10 * time.Second
	// recoveryPage is how many pending transfers one recovery read takes.
	recoveryPage = 1000
)

// Flow runs payments: ISO 8583 requests in, ledger commands and forwarded
// messages out. See doc.go for the whole story.
type Flow struct {
	cfg    Config
	node   Node
	router *routing.Router
	sender atomic.Pointer[senderBox]
	log    *slog.Logger
	m      *metrics
	stan   iso8583.STANSequence
	slots  chan struct{} // one per payment in progress

	mu       sync.Mutex
	inflight map[iso8583.PaymentKey]*payment
	draining atomic.Bool // set by Drain: new payments are refused with 91

	advices adviceState
	// reversalsWaiting counts the 0420s that wait for their payment's
	// outcome or for their answer (waitForOutcome); Drain waits for them.
	reversalsWaiting atomic.Int64
	acks             chan adviceAck // 0430s of owed advices waiting for recordAcks
}

type senderBox struct{ s Sender }

// payment is one payment in progress on this node.
type payment struct {
	key     iso8583.PaymentKey
	id      ledger.ID
	hash    ledger.ID
	req     *iso8583.Message // as the requester sent it; the flow's own copy
	replier Replier
	// also are resends of the same request that wait for the same answer
	// (at most alsoMax), each answered with its own fields 7 and 11.
	also  []waiter
	push  bool
	start time.Time
	// target (who was asked: the payee, or the payer's bank of a pull),
	// fwdAt and timer are set under Flow.mu when the payment is forwarded,
	// and read under it.
	target uint64
	fwdAt  time.Time
	timer  *time.Timer
	// reversed is set by a payer's 0420 that arrives before the payment is
	// forwarded: pay voids it instead of forwarding.
	reversed atomic.Bool
	// reversals are payer 0420s for this payment that wait for its
	// outcome (at most alsoMax), under Flow.mu: each is answered from
	// the ledger once the payment is answered.
	reversals []waiter
	done      atomic.Bool // set by whoever finishes it: the answer, the deadline, a reversal
}

// waiter is a request waiting for a payment's outcome: a resend of its
// 0200, or a payer's 0420.
type waiter struct {
	r   Replier
	req *iso8583.Message
}

// alsoMax bounds the resends, and the reversals, that wait on one payment.
const alsoMax = 16

// messages recycles the messages the flow builds.
var messages = sync.Pool{New: func() any { return new(iso8583.Message) }}

// New checks cfg and returns a Flow. Call SetSender before traffic.
func New(cfg Config) (*Flow, error) {
	if cfg.Node == nil || cfg.Router == nil {
		return nil, errors.New("flow: Node and Router are required")
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = defaultTimeout
	}
	if cfg.InflightMax <= 0 {
		cfg.InflightMax = defaultInflightMax
	}
	if cfg.AdviceRetryMax <= 0 {
		cfg.AdviceRetryMax = time.Minute
	}
	if cfg.AdvicesOwedMax <= 0 {
		cfg.AdvicesOwedMax = defaultAdvicesOwed
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	f := &Flow{cfg: cfg, node: cfg.Node, router: cfg.Router, log: cfg.Logger, m: m,
		slots: make(chan struct{}, cfg.InflightMax), inflight: make(map[iso8583.PaymentKey]*payment),
		acks: make(chan adviceAck, adviceAckQueueMax)}
	f.advices.init()
	return f, nil
}

// SetSender sets where originated messages go (the front end, which is
// built after the flow because the flow is its handler).
func (f *Flow) SetSender(s Sender) { f.sender.Store(&senderBox{s}) }

func (f *Flow) send(participant uint64, m *iso8583.Message) error {
	b := f.sender.Load()
	if b == nil {
		return errors.New("flow: no sender")
	}
	return b.s.Send(participant, m)
}

// Inflight reports how many payments are in progress on this node.
func (f *Flow) Inflight() int { return len(f.slots) }

// Draining reports whether Drain was called.
func (f *Flow) Draining() bool { return f.draining.Load() }

// Drain refuses new payments (91) and waits until the payments in
// progress have finished (answered, forwarded ones posted or voided by
// their answer or deadline) or ctx ends. Responses and advices still flow
// meanwhile. It is the first step of a graceful stop.
func (f *Flow) Drain(ctx context.Context) error {
	f.draining.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.Inflight() > 0 || f.reversalsWaiting.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("flow: %d payments still in progress, %d 0420s waiting for them: %w",
				f.Inflight(), f.reversalsWaiting.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Request handles a request from a signed-on session: 0200 (a payment)
// or 0420 (the payer reverses one). It returns without waiting for the
// ledger or the payee (see RouteWaits); the work goes on when they
// answer. m is copied.
func (f *Flow) Request(r Replier, m *iso8583.Message) {
	switch m.MTI {
	case iso8583.MTIFinancialRequest, iso8583.MTIReversalAdvice:
	default:
		f.reply(r, m, iso8583.ResponseInvalidTransaction, nil)
		return
	}
	if f.draining.Load() {
		f.reply(r, m, iso8583.ResponseUnavailable, nil)
		return
	}
	select {
	case f.slots <- struct{}{}:
	default:
		f.m.shed.Inc()
		f.reply(r, m, iso8583.ResponseUnavailable, nil)
		return
	}
	req := new(iso8583.Message)
	*req = *m
	if req.MTI == iso8583.MTIFinancialRequest && !f.cfg.RouteWaits {
		if !f.pay(r, req) {
			<-f.slots
		}
		return
	}
	go func() {
		if req.MTI == iso8583.MTIReversalAdvice {
			f.payerReversal(r, req)
			<-f.slots
			return
		}
		if !f.pay(r, req) {
			<-f.slots
		}
	}()
}

// Response handles a response from a participant to a message the switch
// sent it: 0210 (a payee's answer) or 0430 (a reversal advice done).
func (f *Flow) Response(from uint64, m *iso8583.Message) {
	switch m.MTI {
	case iso8583.MTIFinancialResponse:
		f.payeeAnswered(from, m)
	case iso8583.MTIReversalAdviceResponse:
		// Only a 0430 for an advice owed to its sender is recorded, so
		// that a participant sending 0430s in a loop costs neither
		// goroutines nor log entries; the acker records them in batches
		// (recordAcks). One dropped here, when adviceAckQueueMax wait
		// already, is asked for again when the advice is resent.
		key, ok := m.PaymentKey()
		id := transferID(tagPayment, key)
		if !ok || !f.node.Routing().OwesAdvice(from, id) {
			f.m.adviceAnswersIgnored.Inc()
			return
		}
		select {
		case f.acks <- adviceAck{from: from, id: id}:
		default:
			f.m.adviceAnswersIgnored.Inc()
		}
	}
}

// reply answers req on r with code, and the approval code when approved.
func (f *Flow) reply(r Replier, req *iso8583.Message, code iso8583.ResponseCode, approval *[6]byte) {
	// Messages are large (the variable fields have room for their maximum);
	// they come from a pool, never the stack, so payment goroutines keep
	// small stacks.
	resp := messages.Get().(*iso8583.Message)
	defer messages.Put(resp)
	if err := resp.ResponseTo(req); err != nil {
		return
	}
	resp.ResponseCode = code
	resp.Set(iso8583.FieldResponseCode)
	if code == iso8583.ResponseApproved && approval != nil {
		resp.ApprovalCode = *approval
		resp.Set(iso8583.FieldApprovalCode)
	}
	if err := r.Reply(resp); err != nil {
		f.log.Debug("flow: reply not delivered; the requester resends", "rrn", string(req.RRN[:]), "code", code.String(), "err", err)
	}
}

// answer is reply for a payment's requester and every resend waiting with
// it, and counts the outcome.
func (f *Flow) answer(p *payment, code iso8583.ResponseCode, approval *[6]byte) {
	f.reply(p.replier, p.req, code, approval)
	f.mu.Lock()
	also, reversals := p.also, p.reversals
	p.also, p.reversals = nil, nil
	f.mu.Unlock()
	for _, w := range also {
		f.reply(w.r, w.req, code, approval)
	}
	if len(reversals) > 0 {
		// The payment is final in the ledger by now (every path finishes
		// it after its post or void): the ledger answers each reversal.
		// Not here: answer may run on the proposer's goroutine.
		go func() {
			for _, w := range reversals {
				f.reverseFromLedger(w.r, w.req, p.key)
				f.reversalsWaiting.Add(-1)
			}
		}()
	}
	f.m.payment(code)
	f.m.legTotal.Observe(time.Since(p.start).Seconds())
	if code != iso8583.ResponseApproved {
		f.log.Info("payment not approved", "rrn", string(p.req.RRN[:]), "acquirer", p.key.Acquirer, "code", code.String(), "meaning", code.Meaning())
	} else if f.log.Enabled(context.Background(), slog.LevelDebug) {
		f.log.Debug("payment approved", "rrn", string(p.req.RRN[:]), "acquirer", p.key.Acquirer)
	}
}

// pay runs one 0200 from start to its answer or its forwarding. It
// reports whether it registered the payment as in progress: from then on
// forget releases the payment's slot.
func (f *Flow) pay(r Replier, req *iso8583.Message) (owned bool) {
	start := time.Now()
	if err := req.CheckFields(); err != nil {
		f.m.payment(iso8583.ResponseFormatError)
		f.reply(r, req, iso8583.ResponseFormatError, nil)
		return false
	}
	key, ok := req.PaymentKey()
	if !ok || key.Acquirer != r.Participant() {
		f.reply(r, req, iso8583.ResponseSecurityViolation, nil)
		return false
	}
	var push bool
	switch req.ProcessingCode {
	case iso8583.ProcessingPush:
		push = true
	case iso8583.ProcessingPull:
	default:
		f.reply(r, req, iso8583.ResponseInvalidTransaction, nil)
		return false
	}
	p := &payment{key: key, id: transferID(tagPayment, key), hash: contentHash(req), req: req, replier: r, push: push, start: start}

	// One payment per key on this node at a time; a resend joins it.
	f.mu.Lock()
	if cur, ok := f.inflight[key]; ok {
		if cur.hash == p.hash && len(cur.also) < alsoMax {
			cur.also = append(cur.also, waiter{r: r, req: req})
			f.mu.Unlock()
			f.m.resends.Inc()
			return false
		}
		f.mu.Unlock()
		code := iso8583.ResponseDuplicate
		if cur.hash == p.hash {
			code = iso8583.ResponseUnavailable // too many resends waiting: resend later
		}
		f.m.payment(code)
		f.reply(r, req, code, nil)
		return false
	}
	f.inflight[key] = p
	f.mu.Unlock()

	// A payment this key already made (or tried) is found by the
	// reservation below: the ledger answers exists (or id_already_failed)
	// and the first outcome is read back. The ledger is not read before,
	// because a read here would cost every payment a Pebble lookup (and
	// its goroutine a deep stack) to save a route for the rare resend.

	rt, code := f.route(p)
	if code != iso8583.ResponseApproved {
		f.finishNow(p, code)
		return true
	}
	f.m.legRoute.Observe(time.Since(start).Seconds())
	target := rt.Payee.Participant
	if !push {
		target = rt.Payer.Participant
	}
	deadline := f.cfg.DefaultTimeout
	targetInfo := rt.PayeeInfo
	if !push {
		targetInfo = rt.PayerInfo
	}
	if targetInfo.PaymentTimeoutMs != 0 {
		deadline = time.Duration(targetInfo.PaymentTimeoutMs) * time.Millisecond
	}
	if f.owesTooMany(target) {
		f.finishNow(p, iso8583.ResponseUnavailable)
		return true
	}

	// Reserve. This goroutine ends here: the proposer runs the rest when
	// the ledger answers, inline when the payment only has to be
	// forwarded (which never blocks), on a goroutine of its own otherwise.
	reserveStart := time.Now()
	kind := uint16(codePull)
	if push {
		kind = codePush
	}
	f.node.SubmitAsync(ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: p.id, DebitAccount: rt.Debit, CreditAccount: rt.Credit, Amount: ledger.Amount(req.Amount),
		Currency: req.Currency, Code: kind, Flags: ledger.Pending,
		Timeout: uint32((deadline + ledgerGrace + time.Second - 1) / time.Second), UserRef: p.hash}},
		func(res ledger.Result, err error) {
			f.m.legReserve.Observe(time.Since(reserveStart).Seconds())
			if err == nil && res.Code == ledger.OK && push {
				f.reserved(p, rt, target, deadline, res, nil)
				return
			}
			go f.reserved(p, rt, target, deadline, res, err)
		})
	return true
}

// finishNow answers p at once (forgotten first, so that a resend arriving
// after the answer starts afresh and reads the ledger).
func (f *Flow) finishNow(p *payment, code iso8583.ResponseCode) {
	f.finish(p)
	f.answer(p, code, nil)
}

// reserved goes on with a payment once the ledger answered its
// reservation: it forwards the payment to its target, or finishes it. The
// forward of an approved push never blocks; every other path may (a
// ledger read, a mandate, a void).
func (f *Flow) reserved(p *payment, rt routing.Route, target uint64, deadline time.Duration, res ledger.Result, err error) {
	// Until it is forwarded (or handed to voidLater), every return below
	// finishes the payment here.
	handed := false
	defer func() {
		if !handed {
			f.finish(p)
		}
	}()
	if err != nil {
		f.submitFailed(err)
		f.finishNow(p, iso8583.ResponseUnavailable)
		return
	}
	switch res.Code {
	case ledger.OK:
	case ledger.Exists, ledger.ExistsWithDifferentDebitAccount, ledger.ExistsWithDifferentCreditAccount,
		ledger.ExistsWithDifferentAmount, ledger.ExistsWithDifferentCurrency, ledger.ExistsWithDifferentCode,
		ledger.ExistsWithDifferentUserRef, ledger.ExistsWithDifferentFlags, ledger.ExistsWithDifferentTimeout,
		ledger.ExistsWithDifferentPendingID, ledger.IDAlreadyFailed:
		// A resend, or another node (an old leader) got there first: the
		// ledger says how it went.
		f.m.resends.Inc()
		f.finish(p)
		if t, found, err := f.readTransfer(p.id); err == nil && found {
			f.answerFromLedger(p, &t)
		} else {
			f.answer(p, iso8583.ResponseSystemError, nil)
		}
		return
	default:
		f.finishNow(p, reserveFailure(res.Code))
		return
	}
	// A pull counts against its mandate once the funds are reserved, so
	// that a refused reservation uses nothing up and a resend (answered
	// from the ledger) never counts twice.
	if !p.push {
		if code := f.useMandate(p, rt); code != iso8583.ResponseApproved {
			f.void(p, code)
			f.finishNow(p, code)
			return
		}
	}

	// Forward, with the STAN and time derived from the reservation.
	req := p.req
	fwd := messages.Get().(*iso8583.Message)
	defer messages.Put(fwd)
	*fwd = *req
	fwd.STAN = forwardSTAN(res.Timestamp)
	fwd.TransmissionTime = forwardTime(res.Timestamp)
	// The switch forwards it: the payer's field 33, if it sent one, is
	// not passed on, so that the 0420 that may follow names this 0200
	// in field 90 with no forwarder (adviceMessage) and the payee finds
	// it.
	fwd.Clear(iso8583.FieldMAC, iso8583.FieldForwarder)
	if p.push {
		err := setParticipant(fwd, iso8583.FieldReceiver, rt.Payee.Participant)
		if err == nil {
			err = fwd.SetBytes(iso8583.FieldPayeeAccount, []byte(rt.Payee.Account))
		}
		if err != nil {
			handed = true
			f.voidLater(p, iso8583.ResponseSystemError)
			return
		}
	}
	f.mu.Lock()
	if p.reversed.Load() {
		f.mu.Unlock()
		// The payer reversed it before it went anywhere.
		handed = true
		f.voidLater(p, iso8583.ResponseDoNotHonour)
		return
	}
	handed = true // from here the answer, the deadline or a reversal finishes it
	p.target = target
	p.timer = time.AfterFunc(deadline, func() { f.deadlinePassed(p) })
	p.fwdAt = time.Now()
	f.mu.Unlock()
	if err := f.send(target, fwd); err != nil {
		// The target has no session: it never saw the payment.
		if p.done.CompareAndSwap(false, true) {
			p.timer.Stop()
			f.voidLater(p, iso8583.ResponseUnavailable)
		}
	}
}

// voidLater voids a reserved payment that will not be forwarded and then
// answers code, on a goroutine of its own (reserved may run on the
// proposer's). The payment stays in progress until then, so that a
// resend joins it rather than racing the void.
func (f *Flow) voidLater(p *payment, code iso8583.ResponseCode) {
	go func() {
		f.void(p, code)
		f.finishNow(p, code)
	}()
}

// finish drops p from the payments in progress and releases its slot;
// only the first call for a payment does anything.
func (f *Flow) finish(p *payment) {
	f.mu.Lock()
	mine := f.inflight[p.key] == p
	if mine {
		delete(f.inflight, p.key)
	}
	f.mu.Unlock()
	if mine {
		<-f.slots
	}
}

// forwardedState reads what pay published when it forwarded p.
func (f *Flow) forwardedState(p *payment) (target uint64, fwdAt time.Time, timer *time.Timer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return p.target, p.fwdAt, p.timer
}

// route asks the router where the payment goes.
func (f *Flow) route(p *payment) (routing.Route, iso8583.ResponseCode) {
	req := p.req
	pr := routing.PaymentRequest{TransferID: p.id.String(), Currency: req.Currency, Amount: req.Amount}
	payerAccount := string(req.Bytes(iso8583.FieldPayerAccount))
	payeeField := string(req.Bytes(iso8583.FieldPayeeAccount))
	receiver, hasReceiver := req.Participant(iso8583.FieldReceiver)
	if p.push {
		pr.Purpose = routing.PurposePayment
		pr.Payer = routing.Party{Participant: p.key.Acquirer, Account: payerAccount}
		if hasReceiver {
			pr.Payee = routing.Party{Participant: receiver, Account: payeeField}
		} else {
			id, err := routing.ParseIdentifier(payeeField)
			if err != nil {
				return routing.Route{}, iso8583.ResponseUnknownAccount
			}
			pr.PayeeID = id
		}
	} else {
		if !hasReceiver || !req.Has(iso8583.FieldAdditionalData) {
			return routing.Route{}, iso8583.ResponseFormatError
		}
		pr.Purpose = routing.PurposePull
		pr.Payer = routing.Party{Participant: receiver, Account: payerAccount}
		pr.Payee = routing.Party{Participant: p.key.Acquirer, Account: payeeField}
		pr.MandateID = string(req.Bytes(iso8583.FieldAdditionalData))
	}
	// The router reads memory; only consent webhooks wait, and each has a
	// latency budget of its own.
	rt, err := f.router.Route(context.Background(), &pr)
	if err == nil {
		return rt, iso8583.ResponseApproved
	}
	var re *routing.RouteError
	if !errors.As(err, &re) {
		return rt, iso8583.ResponseSystemError
	}
	return rt, routeCode(re.Code)
}

func routeCode(c routing.RouteCode) iso8583.ResponseCode {
	switch c {
	case routing.RouteFormat:
		return iso8583.ResponseFormatError
	case routing.RouteInvalidTransaction:
		return iso8583.ResponseInvalidTransaction
	case routing.RouteInvalidAmount:
		return iso8583.ResponseInvalidAmount
	case routing.RouteUnknownID:
		return iso8583.ResponseUnknownAccount
	case routing.RouteNotPermitted:
		return iso8583.ResponseNotPermitted
	case routing.RouteUnavailable:
		return iso8583.ResponseUnavailable
	case routing.RouteUnknownParticipant:
		return iso8583.ResponseUnknownParticipant
	}
	return iso8583.ResponseSystemError
}

// useMandate counts the pull against its mandate in the replicated state,
// atomically with every other use of it.
func (f *Flow) useMandate(p *payment, rt routing.Route) iso8583.ResponseCode {
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	res, err := f.node.SubmitRouting(ctx, []routing.Command{{Op: routing.OpUseMandate, Requester: p.key.Acquirer,
		Mandate: routing.Mandate{ID: string(p.req.Bytes(iso8583.FieldAdditionalData))}, Debit: rt.Payee,
		Currency: p.req.Currency, Amount: p.req.Amount}})
	switch {
	case err != nil:
		return iso8583.ResponseUnavailable
	case res[0].Code != routing.CodeOK:
		return iso8583.ResponseNotPermitted
	}
	return iso8583.ResponseApproved
}

// reserveFailure maps a refused reservation to its response code.
func reserveFailure(c ledger.Code) iso8583.ResponseCode {
	switch c {
	case ledger.ExceedsCredits:
		return iso8583.ResponseLiquidityExhausted
	case ledger.DebitAccountNotFound, ledger.CreditAccountNotFound:
		return iso8583.ResponseUnknownParticipant
	case ledger.AmountMustNotBeZero, ledger.Overflow:
		return iso8583.ResponseInvalidAmount
	case ledger.CurrencyMismatch:
		return iso8583.ResponseInvalidTransaction
	}
	return iso8583.ResponseSystemError
}

// submit proposes one ledger command. It needs no deadline of its own:
// the proposer answers every request within its apply timeout, and a
// timer per payment would cost more than the rest of the call.
func (f *Flow) submit(cmd ledger.Command) (ledger.Result, error) {
	res, err := f.node.SubmitOne(context.Background(), cmd)
	if err != nil {
		f.submitFailed(err)
		return ledger.Result{}, err
	}
	return res, nil
}

// submitFailed logs a failed proposal, unless it failed for want of
// leadership (the requester's resend finds the leader).
func (f *Flow) submitFailed(err error) {
	var nl *replica.NotLeaderError
	if !errors.As(err, &nl) {
		f.log.Warn("flow: ledger proposal failed", "err", err)
	}
}

func (f *Flow) readTransfer(id ledger.ID) (t ledger.Transfer, found bool, err error) {
	err = f.node.Local(func(s *store.Store) error {
		t, found, err = s.Transfer(id)
		return err
	})
	return t, found, err
}

// answerFromLedger answers a payment that the ledger already knows: a
// resend gets the first outcome, a conflicting message 94.
func (f *Flow) answerFromLedger(p *payment, t *ledger.Transfer) {
	if t.UserRef != p.hash {
		f.answer(p, iso8583.ResponseDuplicate, nil)
		return
	}
	switch t.Status {
	case ledger.StatusPosted:
		post, found, err := f.readTransfer(transferID(tagPost, p.key))
		code := approvalCode(post.UserRef)
		if err != nil || !found {
			code = [6]byte{'0', '0', '0', '0', '0', '0'}
		}
		f.answer(p, iso8583.ResponseApproved, &code)
	case ledger.StatusVoided:
		void, found, err := f.readTransfer(transferID(tagVoid, p.key))
		if err != nil || !found || void.Code == 0 {
			f.answer(p, iso8583.ResponsePayeeTimedOut, nil)
			return
		}
		f.answer(p, responseCodeOf(void.Code), nil)
	case ledger.StatusExpired:
		f.answer(p, iso8583.ResponsePayeeTimedOut, nil)
	case ledger.StatusRejected:
		f.answer(p, reserveFailure(t.Result), nil)
	default:
		// Pending, but not in progress here: another leader's, which
		// recovery voids shortly. The payer resends then.
		f.answer(p, iso8583.ResponseUnavailable, nil)
	}
}

// setParticipant writes a participant number into field fl.
func setParticipant(m *iso8583.Message, fl iso8583.Field, v uint64) error {
	var buf [20]byte
	return m.SetBytes(fl, fmt.Appendf(buf[:0], "%d", v))
}

// payeeAnswered takes a payee's 0210 (or a payer bank's, for a pull).
func (f *Flow) payeeAnswered(from uint64, m *iso8583.Message) {
	key, ok := m.PaymentKey()
	if !ok {
		f.m.late.Inc()
		return
	}
	f.mu.Lock()
	p := f.inflight[key]
	var target uint64
	var fwdAt time.Time
	var timer *time.Timer
	if p != nil {
		target, fwdAt, timer = p.target, p.fwdAt, p.timer
	}
	f.mu.Unlock()
	if p == nil || target != from || fwdAt.IsZero() || !p.done.CompareAndSwap(false, true) {
		f.m.late.Inc()
		f.log.Info("late or unknown payment response ignored", "from", from, "rrn", string(key.RRN[:]), "acquirer", key.Acquirer, "code", m.ResponseCode.String())
		return
	}
	timer.Stop()
	f.m.legPayee.Observe(time.Since(fwdAt).Seconds())
	code, approval := m.ResponseCode, m.ApprovalCode
	matches := m.Amount == p.req.Amount && m.Currency == p.req.Currency
	finishStart := time.Now()
	if code == iso8583.ResponseApproved && matches {
		// Post. Approved and posted, the payer's answer goes out from the
		// proposer's goroutine; anything else (a retry, an advice) gets a
		// goroutine of its own.
		f.node.SubmitAsync(postCommand(p, approval), func(res ledger.Result, err error) {
			if err == nil && (res.Code == ledger.OK || res.Code == ledger.Exists) {
				f.posted(p, target, approval, postDone, finishStart)
				return
			}
			// Not go f.posted(…, f.post(…)): post, which may wait, would
			// run here, as a go statement's arguments do.
			go func() { f.posted(p, target, approval, f.post(p, approval, res, err), finishStart) }()
		})
		return
	}
	go func() {
		defer func() { f.m.legFinish.Observe(time.Since(finishStart).Seconds()) }()
		if code == iso8583.ResponseApproved {
			// Approved, but not what was asked: refuse it, and have the
			// payee undo what it applied.
			f.log.Warn("payment approval does not match the request; voided", "from", from, "rrn", string(key.RRN[:]))
			f.recordAdvice(target, p.id, routing.AdviceTimeout)
			f.void(p, iso8583.ResponseSystemError)
			f.finish(p)
			f.answer(p, iso8583.ResponseSystemError, nil)
			f.sendAdviceFor(target, p.id)
			return
		}
		f.void(p, code)
		f.finish(p)
		f.answer(p, code, nil)
	}()
}

// posted finishes an approved payment once post has an outcome.
func (f *Flow) posted(p *payment, target uint64, approval [6]byte, outcome int, finishStart time.Time) {
	defer func() { f.m.legFinish.Observe(time.Since(finishStart).Seconds()) }()
	switch outcome {
	case postDone:
		f.finish(p)
		f.answer(p, iso8583.ResponseApproved, &approval)
	case postGone:
		// Expired under us: the payee applied a payment the switch voided;
		// it must reverse it.
		f.recordAdvice(target, p.id, routing.AdviceTimeout)
		f.finish(p)
		f.answer(p, iso8583.ResponsePayeeTimedOut, nil)
		f.sendAdviceFor(target, p.id)
	default:
		// Leadership moved: the next leader voids the payment and owes the
		// payee an advice; the payer's resend reads it.
		f.finish(p)
		f.answer(p, iso8583.ResponseUnavailable, nil)
	}
}

// Outcomes of post.
const (
	postDone    = iota // posted (now or before)
	postGone           // the reservation expired or was voided
	postAbandon        // no definite answer on this node (leadership lost)
)

// postCommand posts p's reservation, with the payee's approval code.
func postCommand(p *payment, approval [6]byte) ledger.Command {
	return ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: transferID(tagPost, p.key), PendingID: p.id, Flags: ledger.PostPending, UserRef: approvalRef(approval)}}
}

// post settles p's post after the payee's approval, given the first
// attempt's result (res, err). The payee has applied the payment, so a
// transient failure is retried with the same ID (posting is idempotent)
// until the ledger answers, while this node leads.
func (f *Flow) post(p *payment, approval [6]byte, res ledger.Result, err error) int {
	wait := 20 * time.Millisecond
	for {
		if err == nil {
			switch res.Code {
			case ledger.OK, ledger.Exists:
				return postDone
			case ledger.PendingTransferExpired, ledger.PendingTransferAlreadyVoided:
				return postGone
			}
			// Anything else: what does the ledger hold?
			if t, found, err := f.readTransfer(p.id); err == nil && found {
				switch t.Status {
				case ledger.StatusPosted:
					return postDone
				case ledger.StatusVoided, ledger.StatusExpired:
					return postGone
				}
			}
			f.log.Error("flow: post refused", "rrn", string(p.key.RRN[:]), "code", res.Code)
		} else {
			f.submitFailed(err)
		}
		var nl *replica.NotLeaderError
		if errors.As(err, &nl) || errors.Is(err, replica.ErrStopped) || !f.node.IsLeader() {
			return postAbandon
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
		res, err = f.node.SubmitOne(context.Background(), postCommand(p, approval))
	}
}

// deadlinePassed voids a payment whose target did not answer in time,
// answers 68 and owes the target a reversal advice (recorded before the
// void, so that no crash in between loses it).
func (f *Flow) deadlinePassed(p *payment) {
	if !p.done.CompareAndSwap(false, true) {
		return
	}
	target, _, _ := f.forwardedState(p)
	f.recordAdvice(target, p.id, routing.AdviceTimeout)
	f.void(p, iso8583.ResponsePayeeTimedOut)
	f.finish(p)
	f.answer(p, iso8583.ResponsePayeeTimedOut, nil)
	f.sendAdviceFor(target, p.id)
}

// Outcomes of void.
const (
	voidDone   = iota // the payment ends void (now, before, or expired)
	voidPosted        // it was posted: final, nothing to reverse
	voidFailed        // no answer; the ledger's expiry releases it
)

// void releases a payment's reservation, recording code as its outcome.
func (f *Flow) void(p *payment, code iso8583.ResponseCode) int {
	res, err := f.submit(ledger.Command{Op: ledger.OpCreateTransfer, Transfer: ledger.Transfer{
		ID: transferID(tagVoid, p.key), PendingID: p.id, Flags: ledger.VoidPending, Code: responseCodeValue(code)}})
	if err != nil {
		f.log.Error("flow: void failed; the ledger's expiry will release the reservation", "rrn", string(p.key.RRN[:]), "err", err)
		return voidFailed
	}
	switch res.Code {
	case ledger.OK, ledger.Exists, ledger.ExistsWithDifferentCode, ledger.PendingTransferAlreadyVoided, ledger.PendingTransferExpired:
		return voidDone
	case ledger.PendingTransferAlreadyPosted:
		return voidPosted
	}
	f.log.Error("flow: void refused", "rrn", string(p.key.RRN[:]), "code", res.Code)
	return voidFailed
}
