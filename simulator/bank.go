package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/payswitch/payswitch/switch/iso8583"
)

// Bank is one simulated participant connected to the switch: a payer that
// sends payments, pulls and reversals, and a payee that answers what the
// switch forwards to it. Its methods are safe for concurrent use.
type Bank struct {
	cfg               BankConfig
	logger            *slog.Logger
	participantDigits []byte // field 32 and 33
	sessions          []*session
	nextSession       atomic.Uint64
	rrns              rrnSource
	sent              sentLog
	payee             payeeState
	counters          counters
	messages          sync.Pool // *iso8583.Message for building requests

	closing   atomic.Bool
	stop      chan struct{} // closed at Close: ends the sweeper
	sweeping  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Result is the answer to one request of the bank's.
type Result struct {
	// Code is field 39 of the answer.
	Code iso8583.ResponseCode
	// RRN is field 37 of the request ("" for an 0800).
	RRN string
	// STAN is field 11 of the request and the answer.
	STAN uint32
	// Session is the session it went out on.
	Session int
	// Latency runs from when the request was meant to go out (for Pay, when
	// it was called) to when the answer was decoded.
	Latency time.Duration
	// Response is the whole answer, the bank's own copy.
	Response *iso8583.Message
}

// Dial connects cfg.Sessions sessions to the switch and signs each on
// (0800 with 70 = 001, 33 = the participant, 7, 11 and the MAC). When a
// sign-on is answered with 39 other than 00 it returns a *SignOnError
// carrying the code; on any error every session is closed again.
func Dial(ctx context.Context, cfg BankConfig) (*Bank, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bank{
		cfg:               cfg,
		logger:            cfg.Logger.With("participant", cfg.Participant),
		participantDigits: strconv.AppendUint(nil, cfg.Participant, 10),
		payee:             payeeState{delayed: make(map[iso8583.PaymentKey]*delayedAnswer)},
		stop:              make(chan struct{}),
	}
	b.messages.New = func() any { return new(iso8583.Message) }
	b.rrns.start = cfg.RRNStart
	if b.rrns.start == 0 {
		b.rrns.start = rrnStartAt(time.Now())
	}
	var dialer net.Dialer
	for i := range cfg.Sessions {
		conn, err := dialer.DialContext(ctx, "tcp", cfg.SwitchAddr)
		if err != nil {
			b.shutdown()
			return nil, fmt.Errorf("simulator: connect session %d to %s: %w", i, cfg.SwitchAddr, err)
		}
		s, err := newSession(b, i, conn)
		if err != nil {
			_ = conn.Close()
			b.shutdown()
			return nil, err
		}
		b.sessions = append(b.sessions, s)
	}
	b.sweeping.Add(1)
	go b.sweep()
	for _, s := range b.sessions {
		if err := b.signOn(ctx, s); err != nil {
			b.shutdown()
			return nil, err
		}
	}
	b.logger.Info("signed on", "sessions", len(b.sessions), "switch", cfg.SwitchAddr)
	return b, nil
}

// signOn signs session s on.
func (b *Bank) signOn(ctx context.Context, s *session) error {
	res, err := b.network(ctx, s, iso8583.NetworkSignOn)
	if err != nil {
		return fmt.Errorf("simulator: sign-on of session %d: %w", s.index, err)
	}
	if res.Code != iso8583.ResponseApproved {
		return &SignOnError{Session: s.index, Code: res.Code}
	}
	s.signedOn.Store(true)
	return nil
}

// network sends an 0800 with code on s and waits for its 0810.
func (b *Bank) network(ctx context.Context, s *session, code iso8583.NetworkCode) (*Result, error) {
	m := b.message()
	defer b.messages.Put(m)
	m.MTI = iso8583.MTINetworkRequest
	m.NetworkCode = code
	m.Set(iso8583.FieldNetworkCode)
	m.SetTransmissionTime(time.Now())
	if err := m.SetBytes(iso8583.FieldForwarder, b.participantDigits); err != nil {
		return nil, err
	}
	return b.roundTrip(ctx, s, m, [rrnLen]byte{})
}

// message returns an empty message from the pool.
func (b *Bank) message() *iso8583.Message {
	m := b.messages.Get().(*iso8583.Message)
	m.Reset()
	return m
}

// NextRRN returns a fresh RRN, unique among those of this Bank (see
// BankConfig.RRNStart for uniqueness across runs).
func (b *Bank) NextRRN() string { return b.rrns.Next() }

// Pay sends p as a push credit (0200, processing code 400000) and waits
// for the switch's 0210 on the same session. A decline is a Result with
// its code, not an error; errors are ErrNoAnswer, ErrSessionClosed,
// ErrPayment and the like, or ctx's error.
func (b *Bank) Pay(ctx context.Context, p Payment) (*Result, error) {
	return b.pay(ctx, p, iso8583.ProcessingPush, "")
}

// Pull sends p as a pull payment (processing code 000000) naming
// mandateID in field 48, and waits for the 0210. The bank is then the
// payee's bank asking; p names the payer's bank and account as payee
// fields, as the contract has it.
func (b *Bank) Pull(ctx context.Context, p Payment, mandateID string) (*Result, error) {
	if mandateID == "" {
		return nil, fmt.Errorf("%w: a pull payment needs a mandate ID", ErrPayment)
	}
	return b.pay(ctx, p, iso8583.ProcessingPull, mandateID)
}

// pay sends a new payment and waits for its answer.
func (b *Bank) pay(ctx context.Context, p Payment, processing iso8583.ProcessingCode, mandate string) (*Result, error) {
	p = p.withDefaults()
	if p.RRN == "" {
		p.RRN = b.NextRRN()
	}
	m := b.message()
	defer b.messages.Put(m)
	at := stampAt(time.Now(), m)
	if err := b.buildPayment(m, &p, processing, mandate, at); err != nil {
		return nil, err
	}
	s, err := b.pickSession()
	if err != nil {
		return nil, err
	}
	w, err := b.start(ctx, s, m, rrnBytes(p.RRN))
	if err != nil {
		return nil, err
	}
	b.sent.add(&sentPayment{payment: p, processing: processing, mandate: mandate, at: at, stan: m.STAN, session: s.index})
	return w.wait(ctx)
}

// PayAsync sends p as Pay does and returns at once; done gets the outcome
// later, exactly once, on one of the bank's goroutines, and must neither
// block nor call Close. When PayAsync returns an error, done is never
// called. The
// answer is awaited for BankConfig.ResponseTimeout at most.
func (b *Bank) PayAsync(p Payment, done func(*Result, error)) error {
	p = p.withDefaults()
	if p.RRN == "" {
		p.RRN = b.NextRRN()
	}
	m := b.message()
	defer b.messages.Put(m)
	now := time.Now()
	at := stampAt(now, m)
	if err := b.buildPayment(m, &p, iso8583.ProcessingPush, "", at); err != nil {
		return err
	}
	s, err := b.pickSession()
	if err != nil {
		return err
	}
	c := &call{
		mti:      m.MTI,
		rrn:      rrnBytes(p.RRN),
		intended: now,
		deadline: now.Add(b.cfg.ResponseTimeout),
		done: func(c *call, resp *iso8583.Message, err error) {
			if done != nil {
				done(resultOf(c, resp), err)
			}
		},
	}
	if err := s.request(m, c); err != nil {
		return err
	}
	b.sent.add(&sentPayment{payment: p, processing: iso8583.ProcessingPush, at: at, stan: m.STAN, session: s.index})
	return nil
}

// Resend sends the 0200 of a payment this bank sent before under p.RRN
// again, with the same processing code, mandate and times (fields 7, 12
// and 13) as the first and the other fields from p, under a new STAN (the
// contract never reuses a STAN while its request is outstanding). Pass the
// Payment as first sent for an identical resend, which the switch answers
// like the first; change its Amount for a conflicting duplicate (same 32
// + 37, different content), which it answers 94. It returns
// ErrUnknownPayment for an RRN the bank has no record of.
func (b *Bank) Resend(ctx context.Context, p Payment) (*Result, error) {
	rec := b.sent.get(p.RRN)
	if rec == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPayment, p.RRN)
	}
	p = p.withDefaults()
	m := b.message()
	defer b.messages.Put(m)
	if err := b.buildPayment(m, &p, rec.processing, rec.mandate, rec.at); err != nil {
		return nil, err
	}
	s, err := b.pickSession()
	if err != nil {
		return nil, err
	}
	return b.roundTrip(ctx, s, m, rrnBytes(p.RRN))
}

// Reverse sends an 0420 reversal advice for the payment this bank sent
// under rrn, naming its first 0200 in field 90, and waits for the 0430.
// It goes out on the session of the original when that is still open.
func (b *Bank) Reverse(ctx context.Context, rrn string) (*Result, error) {
	rec := b.sent.get(rrn)
	if rec == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPayment, rrn)
	}
	m := b.message()
	defer b.messages.Put(m)
	p := rec.payment
	if err := b.buildPayment(m, &p, rec.processing, rec.mandate, rec.at); err != nil {
		return nil, err
	}
	m.MTI = iso8583.MTIReversalAdvice
	m.SetTransmissionTime(time.Now())
	original := iso8583.Original{
		MTI:              iso8583.MTIFinancialRequest,
		STAN:             rec.stan,
		TransmissionTime: rec.at.transmission,
		Acquirer:         b.cfg.Participant,
	}
	if err := m.SetOriginal(original); err != nil {
		return nil, err
	}
	s := b.sessions[rec.session]
	if !s.usable() {
		var err error
		if s, err = b.pickSession(); err != nil {
			return nil, err
		}
	}
	return b.roundTrip(ctx, s, m, rrnBytes(rrn))
}

// Echo sends an 0800 echo (70 = 301) and waits for the 0810.
func (b *Bank) Echo(ctx context.Context) (*Result, error) {
	s, err := b.pickSession()
	if err != nil {
		return nil, err
	}
	return b.network(ctx, s, iso8583.NetworkEcho)
}

// pickSession returns the next usable session, round-robin.
func (b *Bank) pickSession() (*session, error) {
	if b.closing.Load() {
		return nil, ErrClosed
	}
	n := uint64(len(b.sessions))
	for range n {
		s := b.sessions[b.nextSession.Add(1)%n]
		if s.usable() {
			return s, nil
		}
	}
	return nil, ErrNoSession
}

// waiter waits for the answer of one request.
type waiter struct {
	s  *session
	c  *call
	ch chan outcome
}

type outcome struct {
	res *Result
	err error
}

// start sends m on s and returns the waiter of its answer. The deadline
// is ctx's or BankConfig.ResponseTimeout from now, whichever is first.
func (b *Bank) start(ctx context.Context, s *session, m *iso8583.Message, rrn [rrnLen]byte) (*waiter, error) {
	now := time.Now()
	deadline := now.Add(b.cfg.ResponseTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	w := &waiter{s: s, ch: make(chan outcome, 1)}
	w.c = &call{
		mti:      m.MTI,
		rrn:      rrn,
		intended: now,
		deadline: deadline,
		done: func(c *call, resp *iso8583.Message, err error) {
			w.ch <- outcome{resultOf(c, resp), err}
		},
	}
	if err := s.request(m, w.c); err != nil {
		return nil, err
	}
	return w, nil
}

// wait returns the outcome, or ctx's error when ctx ends first; a
// deadline that passed also wraps ErrNoAnswer, so that the answer missing
// its deadline reads the same whichever timer noticed first.
func (w *waiter) wait(ctx context.Context) (*Result, error) {
	select {
	case o := <-w.ch:
		return o.res, o.err
	case <-ctx.Done():
		if w.s.pending.remove(w.c) {
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", ErrNoAnswer, err)
			}
			return nil, err
		}
		o := <-w.ch // completed meanwhile: its done is sending
		return o.res, o.err
	}
}

// roundTrip sends m on s and waits for the answer.
func (b *Bank) roundTrip(ctx context.Context, s *session, m *iso8583.Message, rrn [rrnLen]byte) (*Result, error) {
	w, err := b.start(ctx, s, m, rrn)
	if err != nil {
		return nil, err
	}
	return w.wait(ctx)
}

// resultOf makes the Result of c, copying resp (nil when there is none).
func resultOf(c *call, resp *iso8583.Message) *Result {
	r := &Result{STAN: c.stan, Session: c.session, Latency: time.Since(c.intended)}
	if c.rrn != ([rrnLen]byte{}) {
		r.RRN = string(c.rrn[:])
	}
	if resp != nil {
		r.Code = resp.ResponseCode
		r.Response = new(iso8583.Message)
		*r.Response = *resp
	}
	return r
}

// rrnBytes returns rrn as field 37 holds it; a too-long rrn is cut (the
// message build refuses it anyway).
func rrnBytes(rrn string) (b [rrnLen]byte) {
	copy(b[:], rrn)
	return b
}

// sweep fails the requests past their deadline, every sweepInterval,
// until the Bank closes.
func (b *Bank) sweep() {
	defer b.sweeping.Done()
	ticker := time.NewTicker(sweepInterval)
	defer ticker.Stop()
	var expired []*call
	for {
		select {
		case <-b.stop:
			return
		case now := <-ticker.C:
			for _, s := range b.sessions {
				expired = s.pending.expire(now, expired[:0])
				for _, c := range expired {
					c.done(c, nil, ErrNoAnswer)
				}
				clear(expired)
			}
		}
	}
}

// Close signs every open session off (0800 with 70 = 002, waiting
// signOffTimeout at most for each 0810), then closes them. Requests still
// outstanding fail with ErrSessionClosed; delayed answers not yet sent
// are not sent. It returns the first sign-off that failed, wrapping
// ErrSignOff when the switch refused it. Later calls return the same.
func (b *Bank) Close() error {
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		var errs []error
		for _, s := range b.sessions {
			if s.usable() {
				errs = append(errs, b.signOff(s))
			}
		}
		b.shutdown()
		b.closeErr = errors.Join(errs...)
		b.logger.Info("signed off", "sessions", len(b.sessions))
	})
	return b.closeErr
}

// signOff signs session s off.
func (b *Bank) signOff(s *session) error {
	ctx, cancel := context.WithTimeout(context.Background(), signOffTimeout)
	defer cancel()
	res, err := b.network(ctx, s, iso8583.NetworkSignOff)
	if err != nil {
		return fmt.Errorf("simulator: sign-off of session %d: %w", s.index, err)
	}
	if res.Code != iso8583.ResponseApproved {
		return fmt.Errorf("%w: session %d answered %v (%s)", ErrSignOff, s.index, res.Code, res.Code.Meaning())
	}
	s.signedOn.Store(false)
	return nil
}

// shutdown closes every session, stops the sweeper and the payee's
// timers, and waits for the goroutines to exit.
func (b *Bank) shutdown() {
	b.closing.Store(true)
	b.payee.stop()
	for _, s := range b.sessions {
		s.close(ErrClosed)
	}
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.sweeping.Wait()
	for _, s := range b.sessions {
		s.goroutines.Wait()
	}
}
