package simulator

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Stats counts what a Bank received from the switch and what it did about
// it. Approved, Declined, Delayed and Dropped add up to Payments.
type Stats struct {
	// Payments is the 0200s the switch forwarded to this bank as payee
	// that decoded and passed their MAC check.
	Payments int
	// Approved were answered 0210 00 at once, Declined 0210 with
	// BankConfig.DeclineCode, Delayed were approved after
	// BankConfig.Delay, and Dropped were never answered.
	Approved, Declined, Delayed, Dropped int
	// LateWithheld is the delayed answers not sent because the switch's
	// 0420 for the payment came first (see AnswerAfterReversal).
	LateWithheld int
	// Advices is the 0420 reversal advices received; AdvicesAnswered the
	// 0430s sent for them (every one is answered 00).
	Advices, AdvicesAnswered int
	// AdviceLog lists the advices received, oldest first: the most recent
	// advicesKeptMax of them.
	AdviceLog []Advice
	// Echoes is the 0800 echoes of the switch answered 0810 00.
	Echoes int
	// MACFailures is the messages from the switch whose MAC was missing or
	// wrong under the participant's key. A request among them was answered
	// 63, a response failed its request with ErrResponseMAC.
	MACFailures int
	// Malformed is the messages from the switch that did not decode or
	// lacked or had extra fields for their type.
	Malformed int
	// Unmatched is the responses from the switch that answered no
	// outstanding request: late, after their request timed out.
	Unmatched int
}

// Advice is one 0420 reversal advice the switch sent this bank.
type Advice struct {
	// RRN and Acquirer (fields 37 and 32) name the payment end to end.
	RRN      string
	Acquirer uint64
	// Amount is field 4.
	Amount uint64
	// Original is field 90: the 0200 as this bank received it.
	Original iso8583.Original
	// Session is the session it came on.
	Session int
	// At is when it came.
	At time.Time
}

// counters are the Stats kept as atomics, so that the readers of several
// sessions update them without a lock.
type counters struct {
	payments, approved, declined, delayed, dropped atomic.Int64
	lateWithheld, advices, advicesAnswered         atomic.Int64
	echoes, macFailures, malformed, unmatched      atomic.Int64
}

// payeeState is the payee's memory across sessions: the delayed answers
// on their timers and the log of advices. Safe for concurrent use.
type payeeState struct {
	mu      sync.Mutex
	delayed map[iso8583.PaymentKey]*delayedAnswer
	advices []Advice // a ring once it holds advicesKeptMax
	next    int      // the oldest advice once the ring is full
	closed  bool
}

// delayedAnswer is a 0210 waiting on its timer.
type delayedAnswer struct {
	timer    *time.Timer
	reversed bool // the 0420 for the payment came while it waited
}

// servePayment answers (or not) a 0200 the switch forwarded, on the
// session's reader: at once, or through a timer, never by waiting.
func (b *Bank) servePayment(s *session, req *iso8583.Message) {
	b.counters.payments.Add(1)
	roll := s.rng.IntN(100)
	cfg := &b.cfg
	switch {
	case roll < cfg.DeclinePercent:
		b.counters.declined.Add(1)
		_ = s.answer(req, cfg.DeclineCode)
	case roll < cfg.DeclinePercent+cfg.DelayPercent:
		if b.answerLater(s, req) {
			b.counters.delayed.Add(1)
		} else {
			b.counters.dropped.Add(1)
		}
	case roll < cfg.DeclinePercent+cfg.DelayPercent+cfg.DropPercent:
		b.counters.dropped.Add(1)
	default:
		b.counters.approved.Add(1)
		_ = s.reply(s.approval(req))
	}
}

// answerLater packs the approval of req now and sends it after
// BankConfig.Delay, unless the 0420 of the payment comes first. It
// reports false when it cannot (too many waiting, or the same payment
// already waiting), and the payment goes unanswered.
func (b *Bank) answerLater(s *session, req *iso8583.Message) bool {
	key, _ := req.PaymentKey() // a checked 0200 has 32 and 37
	frame, err := s.packFrame(s.approval(req))
	if err != nil {
		return false
	}
	p := &b.payee
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.delayed) >= delayedAnswersMax {
		return false
	}
	if _, waiting := p.delayed[key]; waiting {
		return false
	}
	d := &delayedAnswer{}
	p.delayed[key] = d
	// The timer cannot fire before d.timer is set: its function takes
	// p.mu, which is held until this returns.
	d.timer = time.AfterFunc(b.cfg.Delay, func() { b.sendLate(s, key, d, frame) })
	return true
}

// sendLate is the timer of a delayed answer.
func (b *Bank) sendLate(s *session, key iso8583.PaymentKey, d *delayedAnswer, frame []byte) {
	p := &b.payee
	p.mu.Lock()
	if p.delayed[key] == d {
		delete(p.delayed, key)
	}
	reversed, closed := d.reversed, p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	if reversed && !b.cfg.AnswerAfterReversal {
		b.counters.lateWithheld.Add(1)
		return
	}
	if err := s.sendFrame(frame); err != nil {
		b.logger.Debug("delayed answer not sent", "session", s.index, "error", err)
	}
}

// serveAdvice answers a 0420 with 0430 00 and records it. A delayed
// answer to the same payment is marked so that it is withheld.
func (b *Bank) serveAdvice(s *session, req *iso8583.Message) {
	b.counters.advices.Add(1)
	key, _ := req.PaymentKey() // a checked 0420 has 32 and 37
	original, _ := req.Original()
	advice := Advice{
		RRN:      string(req.RRN[:]),
		Acquirer: key.Acquirer,
		Amount:   req.Amount,
		Original: original,
		Session:  s.index,
		At:       time.Now(),
	}
	p := &b.payee
	p.mu.Lock()
	if d := p.delayed[key]; d != nil {
		d.reversed = true
	}
	if len(p.advices) < advicesKeptMax {
		p.advices = append(p.advices, advice)
	} else {
		p.advices[p.next] = advice
		p.next = (p.next + 1) % advicesKeptMax
	}
	p.mu.Unlock()
	if s.answer(req, iso8583.ResponseApproved) == nil {
		b.counters.advicesAnswered.Add(1)
	}
}

// stop stops the timers of the delayed answers; none is sent afterwards.
func (p *payeeState) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for key, d := range p.delayed {
		d.timer.Stop()
		delete(p.delayed, key)
	}
}

// Received returns what the bank has received so far. Safe to call at any
// time, also after Close.
func (b *Bank) Received() Stats {
	c := &b.counters
	st := Stats{
		Payments:        int(c.payments.Load()),
		Approved:        int(c.approved.Load()),
		Declined:        int(c.declined.Load()),
		Delayed:         int(c.delayed.Load()),
		Dropped:         int(c.dropped.Load()),
		LateWithheld:    int(c.lateWithheld.Load()),
		Advices:         int(c.advices.Load()),
		AdvicesAnswered: int(c.advicesAnswered.Load()),
		Echoes:          int(c.echoes.Load()),
		MACFailures:     int(c.macFailures.Load()),
		Malformed:       int(c.malformed.Load()),
		Unmatched:       int(c.unmatched.Load()),
	}
	p := &b.payee
	p.mu.Lock()
	st.AdviceLog = slices.Concat(p.advices[p.next:], p.advices[:p.next])
	p.mu.Unlock()
	return st
}
