package flow

import (
	"context"
	"sync"
	"time"

	"github.com/payswitch/payswitch/ledger"
	"github.com/payswitch/payswitch/ledger/store"
	"github.com/payswitch/payswitch/routing"
	"github.com/payswitch/payswitch/switch/iso8583"
)

// Reversal advices are store-and-forward: owing one is a routing command
// (the outbox is replicated state), so it survives restarts and leader
// changes; sending it is this node's job while it leads, with a backoff
// per advice that doubles from adviceRetryMin up to AdviceRetryMax, reset
// when the participant signs on again. The 0420 is rebuilt from the
// payment's pending transfer, which holds everything field 90 needs.

const (
	adviceRetryMin = time.Second
	// adviceTick is how often the sender looks for advices that are due.
	adviceTick = 250 * time.Millisecond
	// adviceBatchMax bounds the advices one tick sends to one participant.
	adviceBatchMax = 1000
)

type adviceState struct {
	mu   sync.Mutex
	next map[ledger.ID]adviceTry // this node's sending schedule
	// held are the participants whose payments this node refused for
	// owing Config.AdvicesOwedMax advices, for the logs.
	held map[uint64]bool
}

type adviceTry struct {
	at   time.Time
	wait time.Duration
}

func (a *adviceState) init() {
	a.next = make(map[ledger.ID]adviceTry)
	a.held = make(map[uint64]bool)
}

// owesTooMany reports whether participant is owed Config.AdvicesOwedMax
// advices or more, so that a payment to it must be refused (91). It logs
// when a participant starts being refused; adviceAnswered logs when it
// stops.
func (f *Flow) owesTooMany(participant uint64) bool {
	owed := f.node.Routing().OwedAdvices(participant)
	if owed < f.cfg.AdvicesOwedMax {
		return false
	}
	f.m.heldForAdvices.Inc()
	f.advices.mu.Lock()
	first := !f.advices.held[participant]
	f.advices.held[participant] = true
	f.advices.mu.Unlock()
	if first {
		f.log.Warn("flow: refusing payments to a participant that has not acknowledged its reversal advices",
			"participant", participant, "owed", owed, "max", f.cfg.AdvicesOwedMax)
	}
	return true
}

// recordAdvice records in the replicated outbox that participant to is
// owed an advice for payment id. It is recorded before the payment is
// voided, so that a crash in between cannot lose it; sendAdvice checks the
// payment before each send.
func (f *Flow) recordAdvice(to uint64, id ledger.ID, kind routing.AdviceKind) bool {
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	res, err := f.node.SubmitRouting(ctx, []routing.Command{{Op: routing.OpOweAdvice, Advice: routing.Advice{To: to, Transfer: id, Kind: kind}}})
	if err != nil || !res[0].Code.Succeeded() {
		// The next leader's recovery records it if the payment is still
		// pending; if this node voided it already, say so loudly.
		f.log.Error("flow: reversal advice could not be recorded", "to", to, "transfer", id, "err", err)
		return false
	}
	if res[0].Code == routing.CodeOK {
		f.m.advicesOwed.Inc()
	}
	return true
}

// sendAdviceFor sends the advice owed to participant to for payment id.
func (f *Flow) sendAdviceFor(to uint64, id ledger.ID) {
	f.sendAdvice(routing.Advice{To: to, Transfer: id})
}

// dropAdvice removes an advice that must not be sent (its payment was
// posted: posted payments are final).
func (f *Flow) dropAdvice(adv routing.Advice) {
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	_, err := f.node.SubmitRouting(ctx, []routing.Command{{Op: routing.OpAckAdvice, Advice: routing.Advice{To: adv.To, Transfer: adv.Transfer}}})
	f.log.Error("flow: an advice was owed for a posted payment; dropped", "to", adv.To, "transfer", adv.Transfer, "err", err)
}

// sendAdvice sends one advice and schedules its next try. An advice for a
// payment that the ledger holds as posted is dropped instead.
func (f *Flow) sendAdvice(adv routing.Advice) {
	f.advices.mu.Lock()
	try, ok := f.advices.next[adv.Transfer]
	if !ok {
		try.wait = adviceRetryMin
	} else {
		try.wait = min(2*try.wait, f.cfg.AdviceRetryMax)
	}
	try.at = time.Now().Add(try.wait)
	f.advices.next[adv.Transfer] = try
	f.advices.mu.Unlock()

	t, found, err := f.readTransfer(adv.Transfer)
	if err != nil || !found {
		f.log.Error("flow: an owed advice names no transfer", "to", adv.To, "transfer", adv.Transfer, "err", err)
		return
	}
	if t.Status == ledger.StatusPosted {
		f.dropAdvice(adv)
		return
	}
	m, ok := adviceMessage(&t, adv.To, f.stan.Next())
	if !ok {
		f.log.Error("flow: cannot build the advice", "to", adv.To, "transfer", adv.Transfer)
		return
	}
	if err := f.send(adv.To, m); err != nil {
		f.log.Debug("flow: advice not sent; retrying later", "to", adv.To, "transfer", adv.Transfer, "err", err)
		return
	}
	f.m.advicesSent.Inc()
}

// abandon ends a payment that is pending in the ledger but in progress
// nowhere (an old leader's, or one its payer reverses): the advice is
// recorded, the payment voided, the advice sent; if it turns out posted
// after all, the advice is dropped and abandon reports false.
func (f *Flow) abandon(t *ledger.Transfer, kind routing.AdviceKind, code iso8583.ResponseCode) bool {
	key, ok := keyOf(t.ID)
	if !ok {
		return false
	}
	to := targetOf(t)
	f.recordAdvice(to, t.ID, kind)
	switch f.void(&payment{key: key, id: t.ID}, code) {
	case voidPosted:
		f.dropAdvice(routing.Advice{To: to, Transfer: t.ID})
		return false
	case voidFailed:
		return false
	}
	f.sendAdviceFor(to, t.ID)
	return true
}

// adviceMessage builds the 0420 for a payment's pending transfer t, sent
// to participant to.
func adviceMessage(t *ledger.Transfer, to uint64, stan uint32) (*iso8583.Message, bool) {
	key, ok := keyOf(t.ID)
	if !ok {
		return nil, false
	}
	m := &iso8583.Message{MTI: iso8583.MTIReversalAdvice, Amount: uint64(t.Amount), Currency: t.Currency, STAN: stan, RRN: key.RRN}
	m.ProcessingCode = iso8583.ProcessingPush
	if t.Code == codePull {
		m.ProcessingCode = iso8583.ProcessingPull
	}
	m.SetTransmissionTime(time.Now())
	m.Set(iso8583.FieldProcessingCode, iso8583.FieldAmount, iso8583.FieldSTAN, iso8583.FieldRRN, iso8583.FieldCurrency)
	if setParticipant(m, iso8583.FieldAcquirer, key.Acquirer) != nil || setParticipant(m, iso8583.FieldReceiver, to) != nil {
		return nil, false
	}
	err := m.SetOriginal(iso8583.Original{MTI: iso8583.MTIFinancialRequest, STAN: forwardSTAN(t.Timestamp),
		TransmissionTime: forwardTime(t.Timestamp), Acquirer: key.Acquirer})
	return m, err == nil
}

// adviceAck is a 0430 for an advice owed to its sender.
type adviceAck struct {
	from uint64
	id   ledger.ID
}

// adviceAckQueueMax bounds the 0430s waiting to be recorded: the answers
// to several participants' bursts of resent advices (each at most
// adviceBatchMax) at a time.
const adviceAckQueueMax = 8 * adviceBatchMax

// recordAcks records the 0430s of owed advices until ctx ends: what has
// arrived meanwhile goes into one Raft entry, up to
// routing.EntryCommandsMax of them, so that a payee answering a thousand
// advices at once (after it signs on again) costs one or two entries, not
// a thousand.
func (f *Flow) recordAcks(ctx context.Context) {
	batch := make([]adviceAck, 0, routing.EntryCommandsMax)
	cmds := make([]routing.Command, 0, routing.EntryCommandsMax)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case a := <-f.acks:
			batch = append(batch, a)
		}
	gather:
		for len(batch) < routing.EntryCommandsMax {
			select {
			case a := <-f.acks:
				batch = append(batch, a)
			default:
				break gather
			}
		}
		cmds = cmds[:0]
		for _, a := range batch {
			cmds = append(cmds, routing.Command{Op: routing.OpAckAdvice, Requester: a.from, Advice: routing.Advice{To: a.from, Transfer: a.id}})
		}
		f.advicesAnswered(batch, cmds)
	}
}

// advicesAnswered records a batch of 0430s: the advices are done.
func (f *Flow) advicesAnswered(batch []adviceAck, cmds []routing.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	res, err := f.node.SubmitRouting(ctx, cmds)
	if err != nil {
		f.log.Warn("flow: advice answers not recorded; the advices will be sent again", "answers", len(batch), "err", err)
		return
	}
	for i, a := range batch {
		if res[i].Code == routing.CodeOK {
			f.m.advicesOwed.Dec()
			f.m.advicesAnswered.Inc()
		}
		f.advices.mu.Lock()
		delete(f.advices.next, a.id)
		released := f.advices.held[a.from] && f.node.Routing().OwedAdvices(a.from) < f.cfg.AdvicesOwedMax
		if released {
			delete(f.advices.held, a.from)
		}
		f.advices.mu.Unlock()
		if released {
			f.log.Info("flow: accepting payments to a participant again: its reversal advices are below the bound",
				"participant", a.from, "max", f.cfg.AdvicesOwedMax)
		}
	}
}

// SignedOn resends at once the advices a participant is owed.
func (f *Flow) SignedOn(participant uint64) {
	if !f.node.IsLeader() {
		return
	}
	advs := f.node.Routing().Advices(participant)
	f.advices.mu.Lock()
	for _, a := range advs {
		delete(f.advices.next, a.Transfer)
	}
	f.advices.mu.Unlock()
	for i, a := range advs {
		if i == adviceBatchMax {
			break // the sender loop takes the rest
		}
		f.sendAdvice(a)
	}
}

// Run sends due advices and recovers orphaned payments while this node
// leads, until ctx ends.
func (f *Flow) Run(ctx context.Context) {
	go f.recordAcks(ctx)
	tick := time.NewTicker(adviceTick)
	defer tick.Stop()
	leading := false
	var term uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := f.node.IsLeader()
		if now {
			// A new term, even one that came and went between two ticks,
			// may have left payments of another leader behind.
			if t := f.node.Status().Term; !leading || t != term {
				term = t
				f.recover()
			}
		}
		leading = now
		if !leading {
			f.advices.mu.Lock()
			clear(f.advices.next)
			f.advices.mu.Unlock()
			continue
		}
		f.sendDueAdvices()
	}
}

func (f *Flow) sendDueAdvices() {
	st := f.node.Routing()
	now := time.Now()
	for _, to := range st.AdviceParticipants() {
		sent := 0
		for _, a := range st.Advices(to) {
			f.advices.mu.Lock()
			try, ok := f.advices.next[a.Transfer]
			f.advices.mu.Unlock()
			if ok && now.Before(try.at) {
				continue
			}
			f.sendAdvice(a)
			if sent++; sent == adviceBatchMax {
				break
			}
		}
	}
}

// recover voids the payments a previous leader left pending (this node
// has none of its own in progress when it starts to lead) and owes their
// targets an advice: the target may have applied a payment whose answer
// was lost with the old leader. Their payers resend and get 68. Each
// candidate is read again just before it is abandoned and skipped if this
// node has taken it up since.
func (f *Flow) recover() {
	var afterDeadline, afterTS uint64
	recovered := 0
	for {
		var page []ledger.Transfer
		err := f.node.Local(func(s *store.Store) (err error) {
			page, err = s.PendingTransfers(afterDeadline, afterTS, recoveryPage)
			return err
		})
		if err != nil {
			f.log.Error("flow: recovery read failed", "err", err)
			return
		}
		for i := range page {
			afterDeadline, afterTS = page[i].Deadline(), page[i].Timestamp
			if !isPayment(&page[i]) {
				continue
			}
			key, _ := keyOf(page[i].ID)
			f.mu.Lock()
			_, mine := f.inflight[key]
			f.mu.Unlock()
			if mine {
				continue
			}
			t, found, err := f.readTransfer(page[i].ID)
			if err != nil || !found || t.Status != ledger.StatusPending {
				continue
			}
			if f.abandon(&t, routing.AdviceTimeout, iso8583.ResponsePayeeTimedOut) {
				recovered++
			}
		}
		if len(page) < recoveryPage {
			break
		}
	}
	if recovered > 0 {
		f.log.Warn("flow: voided payments a previous leader left in progress; their targets get reversal advices", "payments", recovered)
	}
}

// isPayment reports whether t is a payment's reservation made by a flow:
// the tag, the kind and two position accounts. An operator's transfer
// that happens to carry the tag is left alone.
func isPayment(t *ledger.Transfer) bool {
	if byte(t.ID.Hi()>>56) != tagPayment || (t.Code != codePush && t.Code != codePull) {
		return false
	}
	return t.DebitAccount == routing.PositionAccount(t.DebitAccount.Lo(), t.Currency) &&
		t.CreditAccount == routing.PositionAccount(t.CreditAccount.Lo(), t.Currency)
}

// targetOf is the participant a payment was forwarded to: the owner of
// the credited position for a push, of the debited one for a pull.
func targetOf(t *ledger.Transfer) uint64 {
	if t.Code == codePull {
		return t.DebitAccount.Lo()
	}
	return t.CreditAccount.Lo()
}

// payerReversal takes a payer's 0420 for one of its payments: a payment
// not yet final is voided and its target owed an advice; a final one is
// irrevocable (12); an unknown one is 25, and so is one whose amount or
// currency is not the 0420's (a reversal names what it reverses; a bank
// that sent the wrong RRN must not void another payment).
//
// A payment in progress that is not forwarded yet is flagged (pay voids
// it instead of forwarding), and one whose answer is being settled is
// left to settle; either way the 0420 waits for the payment's outcome
// and is answered from the ledger then (Flow.answer). Answering 00 at
// once would be wrong whenever the payment ends posted after all: a
// resend of a payment already posted is in progress too, until its
// reservation meets the posted one.
func (f *Flow) payerReversal(r Replier, req *iso8583.Message) {
	key, ok := req.PaymentKey()
	if !ok || key.Acquirer != r.Participant() {
		f.reply(r, req, iso8583.ResponseSecurityViolation, nil)
		return
	}
	f.mu.Lock()
	p := f.inflight[key]
	if p == nil {
		f.mu.Unlock()
		f.reverseFromLedger(r, req, key)
		return
	}
	if !sameMoney(req, p.req.Amount, p.req.Currency) {
		// Not this request's reversal. It may still be the reversal of
		// the payment the ledger holds under the key, when the request in
		// progress is a conflicting one (it will get 94): the ledger
		// answers, and checks the money itself.
		f.mu.Unlock()
		f.reverseFromLedger(r, req, key)
		return
	}
	target, fwdAt, timer := p.target, p.fwdAt, p.timer
	if fwdAt.IsZero() {
		// Not forwarded yet: pay sees the flag before it forwards (it
		// publishes the forwarding under the same lock).
		p.reversed.Store(true)
		waits := f.waitForOutcome(p, r, req)
		f.mu.Unlock()
		if !waits {
			f.reply(r, req, iso8583.ResponseUnavailable, nil)
		}
		return
	}
	f.mu.Unlock()
	if p.done.CompareAndSwap(false, true) {
		timer.Stop()
		f.recordAdvice(target, p.id, routing.AdvicePayerReversal)
		f.void(p, iso8583.ResponseDoNotHonour)
		f.finish(p)
		f.reply(r, req, iso8583.ResponseApproved, nil)
		f.answer(p, iso8583.ResponseDoNotHonour, nil)
		f.sendAdviceFor(target, p.id)
		return
	}
	// Its answer or its deadline is being settled right now: wait for
	// the outcome, or read it if the payment has finished meanwhile.
	f.mu.Lock()
	waits := f.inflight[key] == p && f.waitForOutcome(p, r, req)
	full := f.inflight[key] == p && !waits
	f.mu.Unlock()
	switch {
	case waits:
	case full:
		f.reply(r, req, iso8583.ResponseUnavailable, nil)
	default:
		f.reverseFromLedger(r, req, key)
	}
}

// waitForOutcome adds a payer's 0420 to those that wait for payment p's
// answer, unless alsoMax already wait. Called with f.mu held.
func (f *Flow) waitForOutcome(p *payment, r Replier, req *iso8583.Message) bool {
	if len(p.reversals) >= alsoMax {
		return false
	}
	p.reversals = append(p.reversals, waiter{r: r, req: req})
	f.reversalsWaiting.Add(1)
	return true
}

// reverseFromLedger answers a payer's 0420 for a payment not in progress
// here, from what the ledger holds.
func (f *Flow) reverseFromLedger(r Replier, req *iso8583.Message, key iso8583.PaymentKey) {
	id := transferID(tagPayment, key)
	t, found, err := f.readTransfer(id)
	switch {
	case err != nil:
		f.reply(r, req, iso8583.ResponseSystemError, nil)
	case !found || t.Status == ledger.StatusRejected || !sameMoney(req, uint64(t.Amount), t.Currency):
		f.reply(r, req, iso8583.ResponseOriginalNotFound, nil)
	case t.Status == ledger.StatusPosted:
		f.reply(r, req, iso8583.ResponseInvalidTransaction, nil) // instant payments are irrevocable
	case t.Status == ledger.StatusPending:
		// In progress nowhere: an old leader's.
		if f.abandon(&t, routing.AdvicePayerReversal, iso8583.ResponseDoNotHonour) {
			f.reply(r, req, iso8583.ResponseApproved, nil)
		} else if t2, _, _ := f.readTransfer(id); t2.Status == ledger.StatusPosted {
			f.reply(r, req, iso8583.ResponseInvalidTransaction, nil)
		} else {
			f.reply(r, req, iso8583.ResponseUnavailable, nil)
		}
	default:
		f.reply(r, req, iso8583.ResponseApproved, nil) // already void: nothing left to reverse
	}
}

// sameMoney reports whether reversal req names amount in currency.
func sameMoney(req *iso8583.Message, amount uint64, currency uint16) bool {
	return req.Amount == amount && req.Currency == currency
}
